import { HttpError, MESSAGES, element, fetchConsoles, pageToken, tokenFragment } from './common.js';

const message = element('message', HTMLParagraphElement);
const table = element('consoles', HTMLTableElement);

function show(text: string, error = false): void {
  message.textContent = text;
  message.classList.toggle('error', error);
  message.hidden = false;
}

async function load(): Promise<void> {
  const token = pageToken();
  try {
    const list = await fetchConsoles(token);
    const body = table.tBodies[0];
    if (!body) return;
    body.replaceChildren();
    for (const c of list.consoles.filter((x) => x.graphic)) {
      const row = body.insertRow();
      row.insertCell().textContent =
        c.vmName !== '' && c.vmName !== c.vmId ? `${c.vmId} (${c.vmName})` : c.vmId;
      row.insertCell().textContent = `${c.consoleId}${c.label !== '' ? ` · ${c.label}` : ''}`;
      row.insertCell().textContent = c.width > 0 ? `${c.width}×${c.height}` : '—';
      const state = row.insertCell();
      state.textContent = c.running ? (c.enabled ? 'running' : 'display off') : 'not running';
      state.className = c.running ? 'state-running' : 'state-stopped';
      const link = document.createElement('a');
      link.href = `/view/${encodeURIComponent(c.vmId)}/${c.consoleId}${tokenFragment(token)}`;
      link.textContent = list.role === 'control' ? 'Open' : 'Watch';
      row.insertCell().append(link);
    }
    table.hidden = body.rows.length === 0;
    if (body.rows.length === 0) {
      show(
        'No VM consoles yet. Start a VM (QEMU with -display dbus) and its capture service; this list refreshes by itself.',
      );
    } else {
      message.hidden = true;
    }
  } catch (error) {
    if (error instanceof HttpError && error.status === 401) show(MESSAGES.unauthorized ?? '', true);
    else show(MESSAGES.server_unreachable ?? '', true);
  }
}

void load();
setInterval(() => void load(), 5000);
