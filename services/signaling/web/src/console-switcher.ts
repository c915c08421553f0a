import { fetchConsoles } from './common.js';
import type { ConsoleEntry } from './protocol/browser-protocol.js';

/** How often the list of the VM's consoles is read again (a head can come or go). */
const REFRESH_MS = 5000;

/**
 * The player's console selector: the graphic consoles (display heads) of the VM this page shows.
 * Picking one switches the page to it without a reload (the player ends its session and opens one
 * for the other console; the page's URL follows, `/view/VM/CONSOLE`, so it can be shared, reloaded
 * or opened in its own window). Hidden while the VM has one graphic console.
 */
export class ConsoleSwitcher {
  private current: number;
  private timer: number | undefined;

  constructor(
    private readonly select: HTMLSelectElement,
    private readonly vm: string,
    consoleId: number,
    private readonly token: string,
    /** The user picked another console. */
    private readonly onSwitch: (consoleId: number) => void,
  ) {
    this.current = consoleId;
    select.addEventListener('change', () => {
      const id = Number(select.value);
      if (!Number.isInteger(id) || id === this.current) return;
      this.current = id;
      onSwitch(id);
    });
  }

  /** Reads the console list now and every few seconds. */
  start(): void {
    const refresh = (): void => {
      fetchConsoles(this.token).then(
        (list) => this.show(list.consoles),
        () => undefined, // the player reports an unreachable server itself
      );
    };
    refresh();
    this.timer = window.setInterval(refresh, REFRESH_MS);
  }

  stop(): void {
    window.clearInterval(this.timer);
  }

  /** The page now shows this console (a switch, or the browser's back and forward buttons). */
  set consoleId(id: number) {
    this.current = id;
    if (this.select.querySelector(`option[value="${id}"]`)) this.select.value = String(id);
  }

  /** Fills the selector from a console list (any VM's; only this VM's graphic consoles count). */
  show(consoles: readonly ConsoleEntry[]): void {
    const heads: Pick<ConsoleEntry, 'consoleId' | 'label' | 'width' | 'height' | 'running'>[] =
      consoles.filter((c) => c.vmId === this.vm && c.graphic);
    if (!heads.some((c) => c.consoleId === this.current)) {
      // The page's own console is listed even when capture has not announced it (yet).
      heads.push({ consoleId: this.current, label: '', width: 0, height: 0, running: false });
      heads.sort((a, b) => a.consoleId - b.consoleId);
    }
    const options = heads.map((c) => {
      const option = document.createElement('option');
      option.value = String(c.consoleId);
      const size = c.width > 0 ? ` · ${c.width}×${c.height}` : '';
      const label = c.label !== '' ? ` · ${c.label}` : '';
      option.textContent = `console ${c.consoleId}${label}${size}${c.running ? '' : ' (not running)'}`;
      return option;
    });
    // Rebuilt only when something changed, so an open drop-down is not closed under the user.
    const text = options.map((o) => `${o.value}:${o.textContent}`).join('\n');
    if (this.select.dataset.list !== text) {
      this.select.dataset.list = text;
      this.select.replaceChildren(...options);
    }
    this.select.value = String(this.current);
    this.select.hidden = heads.length < 2;
  }
}
