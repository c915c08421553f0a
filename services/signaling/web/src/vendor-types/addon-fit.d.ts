// Types of /vendor/xterm-addon-fit/lib/addon-fit.mjs (served from node_modules by signaling).
export * from '@xterm/addon-fit';
