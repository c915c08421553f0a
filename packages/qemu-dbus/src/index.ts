export * from './audio-client.js';
export * from './bus-call.js';
export * from './display-client.js';
export * from './names.js';
export * from './peer-errors.js';
export * from './peer-link.js';
export * from './qemu-bus-watcher.js';
export * from './wire-reader.js';
export { DBUS_NEXT_VERSION } from './dbus-next-internals.js';
