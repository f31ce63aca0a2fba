// Fuzzing the GGUF reader (header, metadata, tensor infos, the rwkv7 mapping and block decoding):
// random truncations, byte flips and huge numbers written over header fields of a real file.
// Only typed RwkvErrors naming the file may come out, the bytes read stay linear in the file,
// and nothing decodes more values than the file could hold (every count is checked before
// allocating).
// FUZZ_RUNS raises the number of cases (CI default below; scripts/fuzz.mjs runs 10⁵).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createGgufWriter } from '../../src/convert/gguf-write.ts';
import { readGgufHeader } from '../../src/io/gguf.ts';
import { MemorySource } from '../../src/io/source.ts';
import { MemorySink } from '../../src/io/write.ts';
import { fuzzAttempt } from '../helpers/fuzz.ts';
import { randomCheckpoint } from '../helpers/random-model.ts';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 1500);
/**
 * The header cursor reads ahead in windows of up to 1 MiB, which on a file this small is the
 * whole file, tensor data included; then each tensor's bytes are read once, and a tensor the
 * RWKV mapping splits is read once per slice (measured worst: 2.02 × the file's size).
 */
const MAX_BYTES_READ_PER_BYTE = 3;

const base = (() => {
  const ck = randomCheckpoint({
    version: '7',
    nLayer: 1,
    nHead: 1,
    headSize: 32,
    nFfn: 32,
    nVocab: 5,
    ranks: { maa: 1, decay: 1, w: 2, a: 2, v: 2, g: 2, s: 1 },
    timeState: false,
    seed: 3,
  });
  const vocab = ['a', 'b', "'", '\\', 'é'].map((s) => new TextEncoder().encode(s));
  const sink = new MemorySink();
  // Q8_0 matrices, F16 where rows are not whole blocks, F32 vectors: every decoder is reached
  createGgufWriter({ quantize: 'Q8_0', vocab }).write(ck, sink, { dtype: 'F16' });
  return sink.bytes();
})();
const headerEnd = readGgufHeader(new MemorySource(base)).dataOffset;

/** Parse and read every tensor; return 'ok' or the error code. Anything but RwkvError fails. */
function attempt(bytes: Uint8Array): string {
  // 4-bit blocks hold 32 values in 18 bytes: at most 1.8 values per byte of file
  return fuzzAttempt(bytes, 'fuzz.gguf', { maxValuesPerByte: 1.8, maxBytesReadPerByte: MAX_BYTES_READ_PER_BYTE });
}

describe('gguf fuzz', () => {
  it('the unmodified file reads', () => {
    expect(attempt(base)).toBe('ok');
  });

  it('random truncations give typed errors', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: base.length - 1 }), (n) => {
        // cutting only the zero padding after the last tensor leaves a readable file
        const r = attempt(base.slice(0, n));
        if (n < headerEnd) expect(r).not.toBe('ok');
      }),
      { numRuns: Math.min(RUNS, base.length) },
    );
  });

  it('random byte flips give a readable file or a typed error', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ at: fc.integer({ min: 0, max: base.length - 1 }), xor: fc.integer({ min: 1, max: 255 }) }), {
          minLength: 1,
          maxLength: 8,
        }),
        (flips) => {
          const b = base.slice();
          for (const f of flips) b[f.at]! ^= f.xor;
          attempt(b);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('byte flips inside the header give a readable file or a typed error', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ at: fc.integer({ min: 0, max: headerEnd - 1 }), xor: fc.integer({ min: 1, max: 255 }) }), {
          minLength: 1,
          maxLength: 4,
        }),
        (flips) => {
          const b = base.slice();
          for (const f of flips) b[f.at]! ^= f.xor;
          attempt(b);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('huge, negative-looking or odd numbers over header fields give typed errors before any allocation', () => {
    const values = [2n ** 64n - 1n, 2n ** 63n, 2n ** 53n + 1n, 2n ** 40n, 2n ** 32n, 2n ** 32n - 1n, 2n ** 31n, 1000003n, 33n, 5n, 0n];
    fc.assert(
      fc.property(fc.integer({ min: 4, max: headerEnd - 8 }), fc.constantFrom(...values), fc.boolean(), (at, v, wide) => {
        const b = base.slice();
        const dv = new DataView(b.buffer);
        if (wide) dv.setBigUint64(at, v, true);
        else dv.setUint32(at, Number(v & 0xffffffffn), true);
        attempt(b);
      }),
      { numRuns: RUNS },
    );
  });
});
