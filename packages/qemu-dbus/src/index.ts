export * from './bus-call.js';
export * from './display-client.js';
export * from './names.js';
export * from './wire-reader.js';
