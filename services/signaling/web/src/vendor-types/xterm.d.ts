// Types of /vendor/xterm/lib/xterm.mjs (served from node_modules by signaling): the package's.
export * from '@xterm/xterm';
