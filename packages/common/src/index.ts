export * from './config.js';
export * from './errors.js';
export * from './logger.js';
export * from './nats.js';
export * from './service-main.js';
export * from './subjects.js';
export * from './time.js';
export * from './metrics-server.js';
