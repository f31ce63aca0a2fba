// Backend selection: a registered name (./registry.ts), or 'auto'. Unknown or unavailable names
// throw and list the available ones. No environment switches, no work at import time.
//
// Two entry points: `createBackend` (async) makes any backend, including those that start
// asynchronously (wasm's worker threads); its 'auto' tries the registry's AUTO_ORDER (wasm, else
// ts). `selectBackend` (sync, used by RwkvModel.fromCheckpoint) makes only the backends with a
// synchronous start: its 'auto' is the first of AUTO_ORDER that has one (ts), and the others
// throw a typed error pointing at the async path.

import { RwkvError } from '../errors.ts';
import type { Backend } from './backend.ts';
import { AUTO_ORDER, BACKENDS, type BackendEntry, type CreateBackendOptions, type RegisteredBackend, backendEntry } from './registry.ts';

export type { CreateBackendOptions } from './registry.ts';

export type BackendName = 'auto' | RegisteredBackend;

/** 'auto' and every registered backend (./registry.ts), in help order. */
export const BACKEND_NAMES: readonly string[] = ['auto', ...BACKENDS.map((e) => e.name)];

function unknown(name: string): RwkvError {
  return new RwkvError('BACKEND_UNAVAILABLE', `unknown backend "${name}"`, {
    argument: 'backend',
    expected: `one of ${BACKEND_NAMES.join(', ')}`,
    actual: name,
  });
}

/**
 * Make a backend. 'auto' is the fastest that works here: wasm (SIMD + threads), else ts.
 * Release a wasm backend's threads with its `dispose()` (they never keep the process alive).
 */
export async function createBackend(name: string | Backend = 'auto', options: CreateBackendOptions = {}): Promise<Backend> {
  if (typeof name !== 'string') return name;
  if (name === 'auto') return createAuto(options);
  const entry = backendEntry(name);
  if (entry === undefined) throw unknown(name);
  return entry.create(options);
}

/** The first of AUTO_ORDER that starts; one that is unavailable here passes to the next. */
async function createAuto(options: CreateBackendOptions): Promise<Backend> {
  for (const [i, entry] of AUTO_ORDER.entries()) {
    try {
      return await entry.create(options);
    } catch (e) {
      const last = i === AUTO_ORDER.length - 1;
      if (last || !(e instanceof RwkvError && e.code === 'BACKEND_UNAVAILABLE')) throw e;
    }
  }
  throw unknown('auto'); // an empty AUTO_ORDER (test/conformance/registry.test.ts rules it out)
}

/** Make a backend synchronously: 'auto' and 'ts' give the ts backend; 'wasm' needs createBackend. */
export function selectBackend(name: string | Backend = 'auto'): Backend {
  if (typeof name !== 'string') return name;
  const entry: BackendEntry | undefined = name === 'auto' ? AUTO_ORDER.find((e) => e.createSync !== undefined) : backendEntry(name);
  if (entry === undefined) throw unknown(name);
  if (entry.createSync === undefined) {
    throw new RwkvError('BACKEND_UNAVAILABLE', `the ${name} backend starts asynchronously`, {
      argument: 'backend',
      expected: `createBackend("${name}") (async), RwkvModel.load, or a ready Backend instance`,
      actual: name,
      hint: `pass \`backend: await createBackend("${name}")\` to RwkvModel.fromCheckpoint`,
    });
  }
  return entry.createSync({});
}
