// Fuzzing the safetensors reader (and the format sniffing in front of it): random truncations,
// byte flips and header edits of a real file. Only typed RwkvErrors may come out, nothing is read
// twice and nothing allocates more than the file (sizes are checked before reading).
// FUZZ_RUNS raises the number of cases (CI default below; scripts/fuzz.mjs runs 10⁵).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { safetensorsWriter } from '../../src/io/safetensors-write.ts';
import { MemorySink } from '../../src/io/write.ts';
import { fuzzAttempt } from '../helpers/fuzz.ts';
import { randomCheckpoint } from '../helpers/random-model.ts';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 1500);
/**
 * The sniff and the 8-byte length prefix are read, then the JSON header once and each tensor's
 * bytes once (measured worst: the file's size + 16 bytes).
 */
const MAX_BYTES_READ_PER_BYTE = 1;

const base = (() => {
  const ck = randomCheckpoint({
    version: '7',
    nLayer: 1,
    nHead: 2,
    headSize: 4,
    nFfn: 9,
    nVocab: 5,
    ranks: { maa: 1, decay: 1, w: 2, a: 2, v: 2, g: 2, s: 1 },
    timeState: false,
    seed: 3,
  });
  const sink = new MemorySink();
  safetensorsWriter.write(ck, sink, { dtype: 'BF16' });
  return sink.bytes();
})();
const headerEnd = 8 + Number(new DataView(base.buffer).getBigUint64(0, true));

/** Parse and read every tensor (BF16: at most half a value per byte); 'ok' or the error code. */
function attempt(bytes: Uint8Array): string {
  return fuzzAttempt(bytes, 'fuzz.safetensors', { maxValuesPerByte: 0.5, maxBytesReadPerByte: MAX_BYTES_READ_PER_BYTE });
}

describe('safetensors fuzz', () => {
  it('the unmodified file reads', () => {
    expect(attempt(base)).toBe('ok');
  });

  it('the read bound can fail: reading the file once exceeds half a byte read per byte', () => {
    expect(() => fuzzAttempt(base, 'fuzz.safetensors', { maxValuesPerByte: 0.5, maxBytesReadPerByte: 0.5 })).toThrow(/bytes read/);
  });

  it('random truncations give typed errors', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: base.length - 1 }), (n) => {
        expect(attempt(base.slice(0, n))).not.toBe('ok');
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

  it('header edits (huge or negative numbers, wrong types) give typed errors before any allocation', () => {
    const header = new TextDecoder().decode(base.subarray(8, headerEnd));
    const numbers = [...header.matchAll(/\d+/g)];
    const weird = fc.constantFrom('1e300', '-1', '4294967296', '9007199254740993', '0', '"x"', 'null', '[]', '{}', '99999999999');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: numbers.length - 1 }), weird, (i, replacement) => {
        const m = numbers[i]!;
        let edited = header.slice(0, m.index) + replacement + header.slice(m.index! + m[0].length);
        edited += ' '.repeat(Math.max(0, header.length - edited.length));
        const hb = new TextEncoder().encode(edited);
        const b = new Uint8Array(8 + hb.length + base.length - headerEnd);
        new DataView(b.buffer).setBigUint64(0, BigInt(hb.length), true);
        b.set(hb, 8);
        b.set(base.subarray(headerEnd), 8 + hb.length);
        attempt(b);
      }),
      { numRuns: Math.min(RUNS, 500) },
    );
  });

  it('a header length claiming more than the file is refused before reading it', () => {
    const b = base.slice();
    new DataView(b.buffer).setBigUint64(0, 2n ** 62n, true);
    expect(attempt(b)).toBe('FILE_FORMAT');
  });
});
