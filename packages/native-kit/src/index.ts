export { check, is } from './is.js';
export {
  type CodedError,
  hasNativeCode,
  invalidArgType,
  invalidArgValue,
  NativeErrorCode,
  outOfBounds,
} from './native-errors.js';
