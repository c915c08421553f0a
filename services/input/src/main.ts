import { runService } from '@qemu-webrtc/common';
import { inputConfigShape } from './config.js';
import { InputService } from './service.js';

await runService('input', inputConfigShape, (config, logger) => InputService.create(config, logger));
