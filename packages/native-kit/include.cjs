// The folder an addon's binding.gyp adds to include_dirs (like node-addon-api's `include_dir`):
//   "<!(node -p \"require('@qemu-webrtc/native-kit/include')\")"
module.exports = require('node:path').join(__dirname, 'include');
