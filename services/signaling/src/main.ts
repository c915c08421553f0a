import { runService } from '@qemu-webrtc/common';
import { signalingConfigShape } from './config.js';
import { SignalingService } from './service.js';

await runService('signaling', signalingConfigShape, (config, logger) =>
  SignalingService.create(config, logger),
);
