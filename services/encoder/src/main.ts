import { runService } from '@qemu-webrtc/common';
import { encoderConfigShape } from './config.js';
import { EncoderService } from './service.js';

await runService('encoder', encoderConfigShape, (config, logger) => EncoderService.create(config, logger));
