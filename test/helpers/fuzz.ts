// The one step every reader fuzz test takes: parse a (mutated) file and read every tensor.
// Only typed RwkvErrors naming the file may come out; the shapes a header declares must be
// bounded by the file's size before anything is decoded, the values decoded too, and the bytes
// read from the file stay within a small multiple of its size (each tensor is read once, plus the
// headers). Counts, not wall-clock time: a hang is caught by vitest's per-test timeout
// (vitest.config.ts), a huge allocation by the value bounds.

import { expect } from 'vitest';
import { RwkvError } from '../../src/errors.ts';
import { parseCheckpoint } from '../../src/io/load.ts';
import type { ByteSource } from '../../src/io/source.ts';
import { CountingSource } from './counting-source.ts';

export interface FuzzLimits {
  /** Values a byte of file can hold at most (F32 0.25, BF16 0.5, 4-bit blocks 32/18). */
  maxValuesPerByte: number;
  /**
   * Bytes the reader may read per byte of file (header look-ahead, headers read twice, each
   * tensor once): linear in the file, so a reader that re-reads in a loop fails the case. The
   * reason for each format's value is given where it is set.
   */
  maxBytesReadPerByte: number;
}

/** The format sniff reads the first 16 bytes before the reader starts: a fixed extra. */
const READ_SLACK_BYTES = 64;

/** Parse and read every tensor; return 'ok' or the RwkvError code. Anything else fails the test. */
export function fuzzAttempt(input: Uint8Array | ByteSource, name: string, limits: FuzzLimits): string {
  const src = new CountingSource(input, name);
  const size = src.size;
  let outcome: string;
  try {
    const { checkpoint } = parseCheckpoint(src, name);
    let total = 0;
    for (const t of checkpoint.values()) total += t.shape.reduce((a, b) => a * b, 1);
    // shapes are bounded by the file before any value is decoded
    expect(total).toBeLessThanOrEqual(size * limits.maxValuesPerByte);
    let decoded = 0;
    for (const t of checkpoint.values()) decoded += t.data.length;
    expect(decoded).toBeLessThanOrEqual(size * limits.maxValuesPerByte);
    outcome = 'ok';
  } catch (e) {
    if (!(e instanceof RwkvError)) throw new Error(`not an RwkvError: ${(e as Error)?.stack ?? String(e)}`);
    expect(e.message).toContain(name);
    outcome = e.code;
  }
  expect(src.bytesRead, `bytes read from a file of ${size}`).toBeLessThanOrEqual(limits.maxBytesReadPerByte * size + READ_SLACK_BYTES);
  return outcome;
}
