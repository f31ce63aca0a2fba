// Catching the typed error a call is expected to throw, for assertions on its code and details.

import { RwkvError } from '../../src/errors.ts';

/** The RwkvError that `f` throws; any other error propagates, and throwing nothing fails the test. */
export function errorOf(f: () => unknown): RwkvError {
  try {
    f();
  } catch (e) {
    if (e instanceof RwkvError) return e;
    throw e;
  }
  throw new Error('expected an RwkvError, but nothing was thrown');
}

/** errorOf for a promise: the RwkvError it rejects with. */
export async function rejectionOf(p: Promise<unknown>): Promise<RwkvError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RwkvError) return e;
    throw e;
  }
  throw new Error('expected an RwkvError, but the promise resolved');
}
