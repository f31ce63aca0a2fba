// Issue 5's memory target at full length: the WASM backend's memory after 10⁵ decode tokens equals
// its memory after 10 (the default run checks 20 000 tokens, in wasm-backend.test.ts). Also the
// JS heap, where the runtime lets a test force a collection (Node, Bun): it must not grow with
// the number of tokens either. Not part of `npm test`; run with
// `npx vitest run test/unit/wasm-memory.slow.test.ts` or `npm run test:full`.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RwkvModel } from '../../src/model/model.ts';
import { WasmBackend } from '../../src/backends/wasm/wasm-backend.ts';
import { randomCheckpoint } from '../helpers/random-model.ts';

const TOKENS = 100_000;
/** JS heap growth allowed over 10⁵ tokens: a leak of even 64 bytes a token (6.4 MB) exceeds it. */
const HEAP_SLACK = 4 * 2 ** 20;

/** A full garbage collection, where the runtime offers one to a test; undefined where not (Deno). */
function fullGc(): (() => void) | undefined {
  const bun = (globalThis as { Bun?: { gc(sync: boolean): void } }).Bun;
  if (bun !== undefined) return () => bun.gc(true);
  if ((globalThis as { Deno?: unknown }).Deno !== undefined) return undefined;
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (() => void) | undefined;
    return typeof gc === 'function' ? gc : undefined;
  } catch {
    return undefined;
  }
}

function heapUsed(gc: () => void): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe('wasm backend memory over 10⁵ tokens', () => {
  let backend: WasmBackend;
  beforeAll(async () => {
    backend = await WasmBackend.create({ threads: 2 });
  });
  afterAll(async () => {
    await backend.dispose();
  });

  it('arena and WebAssembly.Memory after 10⁵ decode tokens equal those after 10; the JS heap does not grow', async () => {
    const spec = {
      version: '7' as const,
      nLayer: 2,
      nHead: 2,
      headSize: 8,
      nFfn: 40,
      nVocab: 50,
      ranks: { maa: 2, decay: 2, w: 3, a: 3, v: 3, g: 3, s: 2 },
      timeState: false,
      seed: 12,
    };
    const model = RwkvModel.fromCheckpoint(randomCheckpoint(spec), { backend });
    const state = model.createState();
    const gc = fullGc();
    if (gc === undefined) console.warn('wasm-memory.slow: this runtime cannot force a GC from a test; the JS heap check is skipped');
    await model.forward([1, 2, 3, 4, 5], state);
    for (let i = 0; i < 10; i++) await model.forward([(i * 7) % 50], state);
    const arena10 = backend.memoryStats();
    const heap10 = gc !== undefined ? heapUsed(gc) : 0;
    for (let i = 10; i < TOKENS; i++) await model.forward([(i * 7) % 50], state);
    await model.forward([1, 2, 3, 4, 5], state);
    expect(backend.memoryStats()).toEqual(arena10);
    if (gc !== undefined) expect(heapUsed(gc) - heap10).toBeLessThan(HEAP_SLACK);
    state.dispose?.();
    model.dispose();
  }, 120_000);
});
