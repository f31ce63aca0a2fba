// Fuzzing the rwkv.cpp `.bin` reader: random truncations, byte flips, and edits of the header
// and of record headers (dim counts, dims, key lengths, data types) of small files written here
// (every converter branch, FP32, FP16 and quantized records) and of real tiny files. Only typed
// RwkvErrors naming the file may come out, and nothing is read or allocated beyond the file:
// every read lies inside it, the bytes read stay linear in its size, and the tensors' values
// (dequantized included) number at most what the file's bytes can encode.
// FUZZ_RUNS raises the number of cases (the default keeps the file at a few seconds).

import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type GgmlQuantType, quantize } from '../../src/io/ggml-quants.ts';
import { RWKV_CPP_DTYPE_ID, RWKV_CPP_MAX_KEY_BYTES, type RwkvCppRecord, readRwkvCppFile } from '../../src/io/rwkvcpp.ts';
import { writeRwkvCppBin } from '../../src/io/rwkvcpp-write.ts';
import { type ByteSource, MemorySource } from '../../src/io/source.ts';
import type { Checkpoint } from '../../src/tensor/tensor.ts';
import { MemorySink } from '../../src/io/write.ts';
import type { RwkvVersion } from '../../src/model/config.ts';
import { fixturePath } from '../helpers/fixtures.ts';
import { fuzzAttempt } from '../helpers/fuzz.ts';
import { randomCheckpoint } from '../helpers/random-model.ts';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 150);
const NAME = 'fuzz.bin';
/** Fewest bytes a stored value can take: Q4_0, 18 bytes a block of 32. */
const MIN_BYTES_PER_VALUE = 18 / 32;
/**
 * Each record header is read with a look-ahead of its 12 bytes, 3 dims and the longest key
 * (RWKV_CPP_MAX_KEY_BYTES), clipped to the file's end, while the smallest record is 19 bytes
 * (header, one dim, a 1-byte key, one F16 value); then each tensor's bytes once. Measured worst:
 * 10.3 × the file's size, on a small file of short records.
 */
const MAX_BYTES_READ_PER_BYTE = 1 + (12 + 4 * 3 + RWKV_CPP_MAX_KEY_BYTES) / 19;

// ---- the files ----

function written(version: RwkvVersion, headSize: number, dtype: 'F32' | 'F16'): Uint8Array {
  const ck: Checkpoint = randomCheckpoint({
    version,
    nLayer: 1,
    nHead: 2,
    headSize,
    nFfn: 32,
    nVocab: 5,
    ranks: { maa: 2, decay: 2, w: 2, a: 2, v: 2, g: 2, s: 2 },
    timeState: version === '6',
    seed: 7,
  });
  const sink = new MemorySink();
  writeRwkvCppBin(ck, sink, { dtype });
  return sink.bytes();
}

/** `bin` with its square `att.*.weight` matrices (rows of 32) stored as `type` blocks. */
function quantized(bin: Uint8Array, type: GgmlQuantType): Uint8Array {
  const file = readRwkvCppFile(bin);
  const parts: Uint8Array[] = [bin.subarray(0, 24)];
  for (const r of file.records) {
    const q = /\.att\.(key|value)\.weight$/.test(r.key) && r.shape[r.shape.length - 1]! % 32 === 0;
    const head = bin.slice(r.offset, r.dataOffset);
    if (q) new DataView(head.buffer).setInt32(8, RWKV_CPP_DTYPE_ID[type], true);
    parts.push(head, q ? quantize(type, r.values()) : r.bytes());
  }
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const SMALL: readonly [string, Uint8Array][] = [
  ['v4 FP32', written('4', 3, 'F32')],
  ['v5.0 FP16', written('5.0', 3, 'F16')],
  ['v5.2 FP32', written('5.2', 3, 'F32')],
  ['v6 FP16 (time_state)', written('6', 3, 'F16')],
  ['v7 FP16', written('7', 3, 'F16')],
  ['v7 Q4_0', quantized(written('7', 16, 'F32'), 'Q4_0')],
  ['v4 Q5_1', quantized(written('4', 16, 'F32'), 'Q5_1')],
];
const REAL = ['tiny-rwkv/tiny-rwkv-5v2-730K-FP16.bin', 'tiny-rwkv/quantized/tiny-rwkv-7v0-834K-Q4_0.bin']
  .map((rel) => [rel, fixturePath(rel)] as const)
  .filter((e): e is readonly [string, string] => e[1] !== undefined)
  .map(([rel, p]) => [rel, new Uint8Array(readFileSync(p))] as const);

// ---- one attempt ----

/** A source that checks every read lies inside the file (before MemorySource would refuse it). */
class CheckedSource implements ByteSource {
  readonly name = NAME;
  private readonly inner: MemorySource;
  constructor(bytes: Uint8Array) {
    this.inner = new MemorySource(bytes, NAME);
  }
  get size() {
    return this.inner.size;
  }
  read(offset: number, length: number): Uint8Array {
    if (!(offset >= 0 && length >= 0 && offset + length <= this.size))
      throw new Error(`read [${offset}, +${length}) outside a file of ${this.size}`);
    return this.inner.read(offset, length);
  }
}

/** Parse and read every tensor; 'ok' or the error code. Anything but RwkvError fails the test. */
function attempt(bytes: Uint8Array): string {
  return fuzzAttempt(new CheckedSource(bytes), NAME, {
    maxValuesPerByte: 1 / MIN_BYTES_PER_VALUE,
    maxBytesReadPerByte: MAX_BYTES_READ_PER_BYTE,
  });
}

// ---- mutations ----

/** Where the numbers live: the header, and each record's dim_count, key_length, data_type, dims. */
function fields(records: readonly RwkvCppRecord[]): number[] {
  const out = [4, 8, 12, 16, 20];
  for (const r of records) {
    out.push(r.offset, r.offset + 4, r.offset + 8);
    for (let d = 0; d < r.shape.length; d++) out.push(r.offset + 12 + 4 * d);
  }
  return out;
}

const WEIRD = [0, 1, 2, 3, 4, 6, 7, 9, 10, 31, 32, 33, 100, 101, 1024, 1025, -1, -2, 0x7fffffff, -0x80000000, 0x40000000, 0x10000, 0xffff];

const edit = (n: number) =>
  fc
    .record({
      field: fc.nat(),
      value: fc.oneof(
        fc.constantFrom(...WEIRD),
        fc.integer({ min: -0x80000000, max: 0x7fffffff }),
        fc.integer({ min: -3, max: 3 }).map((d) => ({ delta: d })),
      ),
    })
    .map((e) => ({ ...e, field: e.field % n }));

function applyEdit(base: Uint8Array, at: number, value: number | { delta: number }): Uint8Array {
  const b = base.slice();
  const v = new DataView(b.buffer);
  v.setInt32(at, typeof value === 'number' ? value : v.getInt32(at, true) + value.delta, true);
  return b;
}

function fuzzFile(label: string, base: Uint8Array, runs: number) {
  const file = readRwkvCppFile(base, label);
  const where = fields(file.records);
  // bytes of the header and record headers, where damage matters most
  const headerBytes = file.records
    .flatMap((r) => Array.from({ length: r.dataOffset - r.offset }, (_, i) => r.offset + i))
    .concat([...Array(24).keys()]);

  describe(`rwkv.cpp fuzz: ${label} (${base.length} bytes, ${file.records.length} records)`, () => {
    it('the unmodified file reads', () => {
      expect(attempt(base)).toBe('ok');
    });

    it('random truncations give typed errors', () => {
      const ends = new Set([...file.records.map((r) => r.offset), base.length]);
      fc.assert(
        fc.property(fc.integer({ min: 0, max: base.length - 1 }), (n) => {
          const r = attempt(base.slice(0, n));
          // a cut exactly between records leaves a shorter, well-formed file
          if (!ends.has(n)) expect(r).not.toBe('ok');
        }),
        { numRuns: runs },
      );
    });

    it('random byte flips (mostly in headers) give a readable file or a typed error', () => {
      fc.assert(
        fc.property(
          fc.array(fc.record({ inHeader: fc.boolean(), pos: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }), {
            minLength: 1,
            maxLength: 6,
          }),
          (flips) => {
            const b = base.slice();
            for (const f of flips) b[f.inHeader ? headerBytes[f.pos % headerBytes.length]! : f.pos % b.length]! ^= f.xor;
            attempt(b);
          },
        ),
        { numRuns: runs },
      );
    });

    it('dim count, dims, key length, data type and header edits give a readable file or a typed error', () => {
      fc.assert(
        fc.property(fc.array(edit(where.length), { minLength: 1, maxLength: 3 }), (edits) => {
          let b = base;
          for (const e of edits) b = applyEdit(b, where[e.field]!, e.value);
          attempt(b);
        }),
        { numRuns: runs },
      );
    });
  });
}

for (const [label, bytes] of SMALL) fuzzFile(`small ${label}`, bytes, RUNS);
// real files: each case reads and decodes ~1.5 MB, so fewer cases
for (const [label, bytes] of REAL) fuzzFile(label, bytes, Math.max(10, Math.round(RUNS / 10)));

describe('rwkv.cpp fuzz: the edits do reach the parser', () => {
  it('most edits of a small file are refused, with FILE_FORMAT and other codes', () => {
    const base = SMALL[4]![1];
    const file = readRwkvCppFile(base);
    const codes = new Map<string, number>();
    for (const [i, at] of fields(file.records).entries()) {
      for (const v of [-1, 0x7fffffff, 5]) {
        const c = attempt(applyEdit(base, at, v));
        codes.set(c, (codes.get(c) ?? 0) + 1);
        void i;
      }
    }
    expect(codes.get('FILE_FORMAT') ?? 0).toBeGreaterThan(codes.get('ok') ?? 0);
    expect(codes.has('UNSUPPORTED_DTYPE')).toBe(true); // data type 5 (Q4_2)
  });
});
