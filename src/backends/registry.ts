// The backend registry: every backend this library can make, one entry each, in the order the
// help texts list them. Everything that names backends derives from BACKENDS: BACKEND_NAMES,
// createBackend and selectBackend (./select.ts), the devices a strategy string accepts
// (src/strategy.ts), `--backend`'s help (backendHelpLines) and `--strategy`'s
// (src/cli/strategy-option.ts). A new backend is a folder beside ts/, wasm/ and cuda/ with an
// entry.ts exporting its BackendEntry (./backend-entry.ts), and one line in BACKENDS.
//
// An entry loads its implementation on first use (a dynamic import in `create`) unless it must
// start synchronously, so importing the registry starts no worker and loads no native code; the
// browser bundle (scripts/build-browser.mjs) takes a folder's `.browser.ts` twins as usual.

import type { BackendEntry } from './backend-entry.ts';
import { cudaEntry } from './cuda/entry.ts';
import { tsEntry } from './ts/entry.ts';
import { wasmEntry } from './wasm/entry.ts';

export type { BackendEntry, CreateBackendOptions } from './backend-entry.ts';

/** Every backend, in the order the help texts list them. */
export const BACKENDS = [tsEntry, wasmEntry, cudaEntry] as const;

/** The name of a registered backend. */
export type RegisteredBackend = (typeof BACKENDS)[number]['name'];

/** The entry named `name`, or undefined. */
export function backendEntry(name: string): BackendEntry | undefined {
  return (BACKENDS as readonly BackendEntry[]).find((e) => e.name === name);
}

/** The backends 'auto' tries, in the order it tries them (highest rank first). */
export const AUTO_ORDER: readonly BackendEntry[] = (BACKENDS as readonly BackendEntry[])
  .filter((e) => e.auto !== undefined)
  .sort((a, b) => b.auto! - a.auto!);

/** What 'auto' means here, in words: "wasm, else ts". */
export const AUTO_SUMMARY = AUTO_ORDER.map((e) => e.name).join(', else ');

/**
 * `--backend`'s choices for a help text, one line each: the name, padded, then what it is.
 * The caller indents them (e.g. under `--backend NAME`).
 */
export function backendHelpLines(): string[] {
  const rows: [string, string][] = [
    ['auto', `the fastest that works here (${AUTO_SUMMARY})`],
    ...BACKENDS.map((e): [string, string] => [e.name, e.summary]),
  ];
  const width = Math.max(...rows.map(([n]) => n.length)) + 2;
  return rows.map(([n, s]) => n.padEnd(width) + s);
}
