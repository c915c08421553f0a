import { runService } from '@qemu-webrtc/common';
import { captureConfigShape } from './config.js';
import { CaptureService } from './service.js';

await runService('capture', captureConfigShape, (config, logger) => CaptureService.create(config, logger));
