// A backend that leaves out some of the optional ops (OPTIONAL_OPS in src/backends/backend.ts),
// to test what the model, the conformance suite and implementsOp do with such a backend.

import type { Backend, OptionalOp } from '../../src/backends/backend.ts';

/** `b` with the optional ops `ops` taken away (own properties shadowing its methods), renamed `name` if given. */
export function withoutOps(b: Backend, ops: readonly OptionalOp[], name?: string): Backend {
  for (const op of ops) Object.defineProperty(b, op, { value: undefined });
  if (name !== undefined) Object.defineProperty(b, 'caps', { value: { ...b.caps, name } });
  return b;
}
