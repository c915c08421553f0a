/** A check before anything starts failed: `message` is the one line shown to the user. */
export class StartCheckError extends Error {
  /** @override */
  name = 'StartCheckError';
}
