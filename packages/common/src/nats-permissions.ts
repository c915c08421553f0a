import { NATS_SERVICES, SUBJECT_TABLE, type NatsService, type SubjectRow } from './subjects.js';

export { NATS_SERVICES, type NatsService } from './subjects.js';

export interface NatsPermissions {
  /** Subjects the service may publish to (none: it may publish nothing). */
  publish: readonly string[];
  subscribe: readonly string[];
}

const rows: readonly SubjectRow[] = Object.values(SUBJECT_TABLE);

function permissionsOf(service: NatsService): NatsPermissions {
  const publish = new Set<string>();
  const subscribe = new Set<string>();
  for (const row of rows) {
    if (row.publishers[service] !== undefined) publish.add(row.permission);
    if (row.subscribers[service] !== undefined) subscribe.add(row.permission);
  }
  return { publish: [...publish], subscribe: [...subscribe] };
}

/**
 * What each service may publish and subscribe to, derived from SUBJECT_TABLE (subjects.ts): both
 * NATS configurations follow it (deploy/nats.conf for compose, written by
 * scripts/generate-from-subjects.mjs; the start command's, by scripts/nats-auth.mjs), both through
 * natsAuthorizationConf.
 */
export const NATS_PERMISSIONS: Readonly<Record<NatsService, NatsPermissions>> = Object.fromEntries(
  NATS_SERVICES.map((service) => [service, permissionsOf(service)]),
) as Record<NatsService, NatsPermissions>;

export interface NatsUser {
  user: string;
  /** The password as nats-server reads it: a quoted string, or a $VARIABLE reference. */
  password: string;
  permissions?: NatsPermissions;
}

const quote = (s: string): string => JSON.stringify(s);

/** The messages a permission lets through, as a comment for the configuration. */
const messagesOf = (permission: string): string =>
  [...new Set(rows.filter((r) => r.permission === permission).map((r) => r.message))].join(', ');

function allowLines(what: 'publish' | 'subscribe', allowed: readonly string[]): string[] {
  if (allowed.length === 0) return [`        ${what}: { deny: [">"] }`];
  return [
    `        ${what}: {`,
    '          allow: [',
    ...allowed.map((p) => `            ${quote(p).padEnd(33)} # ${messagesOf(p)}`),
    '          ]',
    '        }',
  ];
}

/**
 * nats-server's `authorization { users: [...] }` block for `users`; a user without permissions may
 * publish and subscribe to anything (a test client).
 */
export function natsAuthorizationConf(users: readonly NatsUser[]): string {
  const lines = ['authorization {', '  users: ['];
  for (const u of users) {
    lines.push('    {', `      user: ${quote(u.user)}`, `      password: ${u.password}`);
    if (u.permissions) {
      lines.push(
        '      permissions: {',
        ...allowLines('publish', u.permissions.publish),
        ...allowLines('subscribe', u.permissions.subscribe),
        '      }',
      );
    }
    lines.push('    }');
  }
  lines.push('  ]', '}');
  return `${lines.join('\n')}\n`;
}
