/**
 * The pre-init queue: calls made before `init` (or, through the snippet's stub, before the SDK
 * has loaded) are kept with the time they were made and replayed in order.
 */

/** A call as the snippet's stub records it: method name, its arguments, when it was made. */
/** @typedef {[method: string, args: ArrayLike<unknown>, time?: number]} QueuedCall */

/** Beyond this many calls before init, later ones are dropped rather than growing without bound. */
export const MAX_QUEUED_CALLS = 1000;

/**
 * @returns {{ _push: (call: QueuedCall) => boolean, _drain: (run: (call: QueuedCall) => void) => void }}
 */
export function createCallQueue() {
  /** @type {QueuedCall[]} */
  let calls = [];
  return {
    _push(call) {
      return calls.length < MAX_QUEUED_CALLS && calls.push(call) > 0;
    },
    _drain(run) {
      // Calls made while draining (from a ready callback, say) are queued behind and drained too.
      while (calls.length) run(/** @type {QueuedCall} */ (calls.shift()));
    },
  };
}

/**
 * Replays the snippet's stub (an array of recorded calls) into the loaded SDK, and forwards what
 * is pushed onto the stub later, for code that kept a reference to it.
 * @param {unknown} stub `window.cxloop` as the snippet left it
 * @param {(call: QueuedCall) => void} run
 */
export function replayStub(stub, run) {
  if (!Array.isArray(stub)) return;
  for (const call of stub) if (Array.isArray(call)) run(/** @type {QueuedCall} */ (call));
  stub.length = 0;
  stub.push = (/** @type {QueuedCall[]} */ ...calls) => {
    calls.forEach(run);
    return 0;
  };
}
