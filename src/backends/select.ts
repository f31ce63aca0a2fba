// Backend selection: an explicit name, or 'auto'. Unknown or unavailable names throw and list
// the available ones. No environment switches, no work at import time.

import { RwkvError } from '../errors.ts';
import type { Backend } from './backend.ts';
import { TsBackend } from './ts/ts-backend.ts';

export type BackendName = 'auto' | 'ts';

const FACTORIES: Readonly<Record<Exclude<BackendName, 'auto'>, () => Backend>> = Object.freeze({
  ts: () => new TsBackend(),
});

export const BACKEND_NAMES: readonly string[] = ['auto', ...Object.keys(FACTORIES)];

/** 'auto' picks the fastest available backend; today that is 'ts' (the only one). */
export function selectBackend(name: string | Backend = 'auto'): Backend {
  if (typeof name !== 'string') return name;
  if (name === 'auto') return FACTORIES.ts();
  const make = (FACTORIES as Record<string, () => Backend>)[name];
  if (make === undefined) {
    throw new RwkvError('BACKEND_UNAVAILABLE', `unknown backend "${name}"`, {
      argument: 'backend', expected: `one of ${BACKEND_NAMES.join(', ')}`, actual: name,
    });
  }
  return make();
}
