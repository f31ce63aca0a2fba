// The one step every reader fuzz test takes: parse a (mutated) file and read every tensor.
// Only typed RwkvErrors naming the file may come out; the shapes a header declares must be
// bounded by the file's size before anything is decoded; each case must finish in time.

import { expect } from 'vitest';
import { RwkvError } from '../../src/errors.ts';
import { parseCheckpoint } from '../../src/io/load.ts';
import type { ByteSource } from '../../src/io/source.ts';

export interface FuzzLimits {
  /** Values a byte of file can hold at most (F32 0.25, BF16 0.5, 4-bit blocks 32/18). */
  maxValuesPerByte: number;
  /** Time a single case may take. */
  maxMs: number;
}

/** Parse and read every tensor; return 'ok' or the RwkvError code. Anything else fails the test. */
export function fuzzAttempt(input: Uint8Array | ByteSource, name: string, limits: FuzzLimits): string {
  const size = input instanceof Uint8Array ? input.length : input.size;
  const t0 = performance.now();
  try {
    const { checkpoint } = parseCheckpoint(input, name);
    let total = 0;
    for (const t of checkpoint.values()) total += t.shape.reduce((a, b) => a * b, 1);
    // shapes are bounded by the file before any value is decoded
    expect(total).toBeLessThanOrEqual(size * limits.maxValuesPerByte);
    for (const t of checkpoint.values()) void t.data;
    return 'ok';
  } catch (e) {
    if (!(e instanceof RwkvError)) throw new Error(`not an RwkvError: ${(e as Error)?.stack ?? String(e)}`);
    expect(e.message).toContain(name);
    return e.code;
  } finally {
    const ms = performance.now() - t0;
    if (ms > limits.maxMs) throw new Error(`a case took ${ms.toFixed(0)} ms (limit ${limits.maxMs})`);
  }
}
