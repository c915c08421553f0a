import { subjects } from './subjects.js';

/** The services that connect to NATS, each as its own NATS user. */
export const NATS_SERVICES = ['capture', 'encoder', 'signaling', 'input'] as const;
export type NatsService = (typeof NATS_SERVICES)[number];

export interface NatsPermissions {
  /** Subjects the service may publish to (none: it may publish nothing). */
  publish: readonly string[];
  subscribe: readonly string[];
}

/**
 * What each service may publish and subscribe to: the one description both NATS configurations
 * follow (deploy/nats.conf for compose, written by hand and checked against this by a test; the
 * start command's, generated from this by natsAuthorizationConf). Add a subject here when a
 * service starts using it.
 */
export const NATS_PERMISSIONS: Readonly<Record<NatsService, NatsPermissions>> = {
  // Publishes what it captures; answers refresh requests.
  capture: {
    publish: [subjects.consoleInfoAll, subjects.frameReadyAll, subjects.cursorAllConsoles],
    subscribe: [subjects.consoleRefresh],
  },
  encoder: {
    publish: [subjects.encodedAll, subjects.streamClaims, subjects.encoderHeartbeat, subjects.consoleRefresh],
    subscribe: [
      subjects.frameReadyAll,
      subjects.consoleInfoAll,
      subjects.keyframeRequestAll,
      subjects.encoderControlAll,
      subjects.encoderHeartbeat,
    ],
  },
  signaling: {
    publish: [
      subjects.consoleRefresh,
      subjects.inputAll,
      subjects.keyframeRequestAll,
      subjects.encoderControlAll,
    ],
    subscribe: [
      subjects.consoleInfoAll,
      subjects.cursorAllConsoles,
      subjects.encodedAll,
      subjects.encoderHeartbeat,
      subjects.streamClaims,
    ],
  },
  // Only listens.
  input: { publish: [], subscribe: [subjects.inputAll] },
};

export interface NatsUser {
  user: string;
  /** The password as nats-server reads it: a quoted string, or a $VARIABLE reference. */
  password: string;
  permissions?: NatsPermissions;
}

const quote = (s: string): string => JSON.stringify(s);

/**
 * nats-server's `authorization { users: [...] }` block for `users`; a user without permissions may
 * publish and subscribe to anything (a test client).
 */
export function natsAuthorizationConf(users: readonly NatsUser[]): string {
  const lines = ['authorization {', '  users: ['];
  for (const u of users) {
    lines.push('    {', `      user: ${quote(u.user)}`, `      password: ${u.password}`);
    if (u.permissions) {
      const pub = u.permissions.publish;
      lines.push(
        '      permissions: {',
        pub.length > 0
          ? `        publish: { allow: [${pub.map(quote).join(', ')}] }`
          : '        publish: { deny: [">"] }',
        `        subscribe: { allow: [${u.permissions.subscribe.map(quote).join(', ')}] }`,
        '      }',
      );
    }
    lines.push('    }');
  }
  lines.push('  ]', '}');
  return `${lines.join('\n')}\n`;
}
