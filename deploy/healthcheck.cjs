// Container health check without curl or wget: exits 0 when GET http(s)://127.0.0.1:<port><path>
// answers 2xx within 3 s.
//   node healthcheck.cjs <port | NAME_OF_PORT_VARIABLE> <path> [https]
// Every service's metrics port (METRICS_PORT: /health with details) is plain HTTP. `https` is for
// signaling's public port with TLS_CERT set (the certificate is not verified: it is for a public
// name, and this talks to 127.0.0.1).
'use strict';
const [portArg, path = '/health', scheme = 'http'] = process.argv.slice(2);
const port = Number(/^\d+$/.test(portArg ?? '') ? portArg : process.env[portArg ?? '']);
if (!Number.isInteger(port) || port <= 0) {
  console.error(`healthcheck: no port in ${JSON.stringify(portArg)}`);
  process.exit(2);
}
const tls = scheme === 'https';
const req = require(tls ? 'node:https' : 'node:http').get(
  { host: '127.0.0.1', port, path, timeout: 3000, rejectUnauthorized: false },
  (res) => {
    res.resume();
    process.exit(res.statusCode >= 200 && res.statusCode < 300 ? 0 : 1);
  },
);
req.on('timeout', () => req.destroy(new Error('timed out')));
req.on('error', (error) => {
  console.error(`healthcheck: ${error.message}`);
  process.exit(1);
});
