// Fuzzing the .pth reader (zip directory, local headers, allow-list pickle VM, tensor views):
// truncations, byte flips, edits of zip header fields to extreme values, pickle edits with the
// CRC fixed up (so they reach the pickle VM), random pickles. Whatever the input:
//   - the only exceptions are RwkvErrors (naming the file), from parsing or from reading a tensor;
//   - no read is ever asked for beyond the file (headers claiming huge sizes are refused before
//     anything is read or allocated), and no tensor decodes more elements than its bytes allow;
//   - the bytes read stay within twice the file (no re-reading loop); a hang is caught by vitest's
//     per-test timeout (no wall-clock assertion).
// FUZZ_RUNS (or FC_RUNS) raises the number of cases per property; pth-fuzz.slow.test.ts runs 10^5.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RwkvError } from '../../src/errors.ts';
import { type AllowedGlobal, PickleDict, unpickle } from '../../src/io/pickle.ts';
import { StoredZipWriter, writePth } from '../../src/io/pth-write.ts';
import { parsePth } from '../../src/io/pth.ts';
import { MemorySource } from '../../src/io/source.ts';
import { type Checkpoint, makeTensor, numel } from '../../src/tensor/tensor.ts';
import { MemorySink } from '../../src/io/write.ts';
import { crc32, readZip } from '../../src/io/zip.ts';
import { CountingSource } from '../helpers/counting-source.ts';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? process.env['FC_RUNS'] ?? 0) || 400;
/**
 * Bytes a case may read per byte of file: the zip reader reads the file's tail (the end of central
 * directory), the central directory, the local headers and each entry's data once (measured worst:
 * the file's size + 22 bytes), so 2× is a bound that only a re-reading loop can pass. Counted,
 * not timed: vitest's per-test timeout is the hang guard.
 */
const MAX_BYTES_READ_PER_BYTE = 2;
const READ_SLACK_BYTES = 64;
const STORED_BYTES = { F32: 4, F16: 2, BF16: 2 } as Record<string, number>;

// ---- base files ----
const enc = new TextEncoder();
const le = (v: number, k: number) => Array.from({ length: k }, (_, i) => Math.floor(v / 2 ** (8 * i)) & 0xff);
const S = (s: string) => [0x58, ...le(enc.encode(s).length, 4), ...enc.encode(s)];
const G = (module: string, name: string) => [0x63, ...enc.encode(`${module}\n${name}\n`)];
const I = (v: number) => [0x4a, ...le(v >>> 0, 4)];
const tup = (xs: number[]) => [0x28, ...xs.flatMap(I), 0x74];

function written(zip64: boolean): Uint8Array {
  const ck: Checkpoint = new Map([
    ['a', makeTensor([2, 3], Float32Array.of(1, 2, 3, 4, 5, 6))],
    ['b', makeTensor([4], Float32Array.of(0.5, -1, 2, 8), 'BF16')],
    ['c', makeTensor([], Float32Array.of(3), 'F16')],
    ['d', makeTensor([0, 2], new Float32Array(0))],
  ]);
  const sink = new MemorySink();
  writePth(ck, sink, zip64 ? { zip64: 'always' } : {});
  return sink.bytes();
}

/** a hand-built archive with a shared storage, a storage offset and a transposed view (protocol 2, memo) */
function views(): Uint8Array {
  const tensor = (key: string, type: string, skey: string, n: number, off: number, size: number[], stride: number[]) => [
    ...S(key),
    ...G('torch._utils', '_rebuild_tensor_v2'),
    0x28,
    0x28,
    ...S('storage'),
    ...G('torch', type),
    ...S(skey),
    ...S('cpu'),
    ...I(n),
    0x74,
    0x51,
    ...I(off),
    ...tup(size),
    ...tup(stride),
    0x89,
    ...G('collections', 'OrderedDict'),
    0x29,
    0x52,
    0x74,
    0x52,
  ];
  const pickle = Uint8Array.from([
    0x80,
    2,
    ...G('collections', 'OrderedDict'),
    0x71,
    0,
    0x29,
    0x52,
    0x28,
    ...tensor('m', 'FloatStorage', '0', 6, 0, [2, 3], [3, 1]),
    ...tensor('mt', 'FloatStorage', '0', 6, 0, [3, 2], [1, 3]),
    ...tensor('row', 'FloatStorage', '0', 6, 3, [3], [1]),
    ...tensor('h', 'HalfStorage', '1', 4, 1, [2], [2]),
    0x75,
    0x2e,
  ]);
  const sink = new MemorySink();
  const z = new StoredZipWriter(sink);
  z.add('v/data.pkl', pickle);
  z.add('v/data/0', new Uint8Array(Float32Array.of(1, 2, 3, 4, 5, 6).buffer));
  z.add('v/data/1', new Uint8Array(Uint16Array.of(0x3c00, 0x4000, 0x4200, 0x4400).buffer));
  z.add('v/version', enc.encode('3\n'));
  z.finish();
  return sink.bytes();
}

const BASES: Record<string, Uint8Array> = { written: written(false), zip64: written(true), views: views() };

// ---- where the structure is: zip header fields, and the data.pkl entry ----
interface Layout {
  /** [offset, width] of every header field */
  fields: [number, number][];
  pkl: { start: number; size: number; crcAt: number };
}
function layout(b: Uint8Array): Layout {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const fields: [number, number][] = [];
  for (let p = 0; p + 4 <= b.length; p++) {
    const sig = dv.getUint32(p, true);
    if (sig === 0x04034b50)
      for (const [o, w] of [
        [4, 2],
        [6, 2],
        [8, 2],
        [14, 4],
        [18, 4],
        [22, 4],
        [26, 2],
        [28, 2],
      ] as const)
        fields.push([p + o, w]);
    if (sig === 0x02014b50) {
      for (const [o, w] of [
        [8, 2],
        [10, 2],
        [16, 4],
        [20, 4],
        [24, 4],
        [28, 2],
        [30, 2],
        [32, 2],
        [34, 2],
        [42, 4],
      ] as const)
        fields.push([p + o, w]);
      const nameLen = dv.getUint16(p + 28, true);
      const extraLen = dv.getUint16(p + 30, true);
      // zip64 extra fields: their 8-byte values
      for (let e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen; e += 4 + dv.getUint16(e + 2, true)) {
        for (let q = e + 4; q + 8 <= e + 4 + dv.getUint16(e + 2, true); q += 8) fields.push([q, 8]);
      }
    }
    if (sig === 0x06054b50)
      for (const [o, w] of [
        [4, 2],
        [6, 2],
        [8, 2],
        [10, 2],
        [12, 4],
        [16, 4],
        [20, 2],
      ] as const)
        fields.push([p + o, w]);
    if (sig === 0x06064b50) for (const o of [24, 32, 40, 48]) fields.push([p + o, 8]);
    if (sig === 0x07064b50) fields.push([p + 8, 8]);
  }
  // data.pkl of the (unmutated) base, and where its CRC sits in the central directory
  const zip = readZip(new MemorySource(b), 'base');
  const entry = [...zip.entries.values()].find((e) => e.name.endsWith('/data.pkl'))!;
  const name = enc.encode(entry.name);
  let crcAt = -1;
  for (let p = 0; p + 46 <= b.length; p++) {
    if (dv.getUint32(p, true) === 0x02014b50 && dv.getUint16(p + 28, true) === name.length && name.every((c, i) => b[p + 46 + i] === c))
      crcAt = p + 16;
  }
  return { fields, pkl: { start: zip.dataOffset(entry), size: entry.size, crcAt } };
}
const LAYOUTS = Object.fromEntries(Object.entries(BASES).map(([k, b]) => [k, layout(b)]));

const EXTREMES = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0xfffe, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
function writeField(b: Uint8Array, at: number, width: number, value: number, high: number): void {
  for (let i = 0; i < width && at + i < b.length; i++) {
    b[at + i] = i < 4 ? Math.floor(value / 2 ** (8 * i)) & 0xff : Math.floor(high / 2 ** (8 * (i - 4))) & 0xff;
  }
}

// ---- mutations ----
type Mutation =
  | { kind: 'truncate'; at: number }
  | { kind: 'flips'; flips: { pos: number; val: number }[] }
  | { kind: 'field'; index: number; value: number; high: number }
  | { kind: 'pickle'; edits: { pos: number; val: number }[]; fixCrc: boolean };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('flips' as const),
    flips: fc.array(fc.record({ pos: fc.nat(), val: fc.nat(255) }), { minLength: 1, maxLength: 8 }),
  }),
  fc.record({
    kind: fc.constant('field' as const),
    index: fc.nat(),
    value: fc.oneof(fc.constantFrom(...EXTREMES), fc.nat(0xffffffff)),
    high: fc.oneof(fc.constant(0), fc.constantFrom(1, 0x1fffff, 0x200000, 0xffffffff), fc.nat(0xffffffff)),
  }),
  fc.record({
    kind: fc.constant('pickle' as const),
    edits: fc.array(
      fc.record({
        pos: fc.nat(),
        val: fc.oneof(fc.nat(255), fc.constantFrom(0x28, 0x2e, 0x4e, 0x51, 0x52, 0x62, 0x63, 0x68, 0x71, 0x74, 0x75, 0x81, 0x93, 0xff)),
      }),
      { minLength: 1, maxLength: 6 },
    ),
    fixCrc: fc.boolean(),
  }),
);

function mutate(base: string, m: Mutation): Uint8Array {
  const src = BASES[base]!;
  const lay = LAYOUTS[base]!;
  if (m.kind === 'truncate') return src.slice(0, m.at % src.length);
  const b = src.slice();
  if (m.kind === 'flips') for (const f of m.flips) b[f.pos % b.length]! ^= f.val || 1;
  else if (m.kind === 'field') {
    const [at, width] = lay.fields[m.index % lay.fields.length]!;
    writeField(b, at, width, m.value, m.high);
  } else {
    const { start, size, crcAt } = lay.pkl;
    const span = Math.max(1, Math.min(size, b.length - start));
    for (const e of m.edits) b[start + (e.pos % span)] = e.val;
    if (m.fixCrc && crcAt >= 0) new DataView(b.buffer).setUint32(crcAt, crc32(b.subarray(start, start + size)), true);
  }
  return b;
}

/** parse, then read every tensor; only RwkvErrors; no read past the file; bytes read bounded */
function survive(bytes: Uint8Array): 'ok' | string {
  const inner = new MemorySource(bytes, 'fuzz.pth');
  const src = new CountingSource({
    name: 'fuzz.pth',
    size: inner.size,
    read(offset, length) {
      if (offset + length > inner.size) throw new Error(`read past the end: [${offset}, ${offset + length}) of ${inner.size}`);
      return inner.read(offset, length);
    },
  });
  let outcome: 'ok' | string = 'ok';
  const typed = (e: unknown) => {
    if (!(e instanceof RwkvError)) throw e;
    expect(e.file).toBe('fuzz.pth');
    outcome = e.code;
  };
  try {
    const ck = parsePth(src, 'fuzz.pth');
    for (const t of ck.values()) {
      try {
        const n = numel(t.shape);
        expect(n * STORED_BYTES[t.storedAs]!).toBeLessThanOrEqual(bytes.length);
        expect(t.data.length).toBe(n);
        if (t.raw !== undefined) expect(t.raw().length).toBe(n * STORED_BYTES[t.storedAs]!);
      } catch (e) {
        typed(e);
      }
    }
  } catch (e) {
    typed(e);
  }
  expect(src.largestRead).toBeLessThanOrEqual(bytes.length);
  expect(src.bytesRead).toBeLessThanOrEqual(MAX_BYTES_READ_PER_BYTE * bytes.length + READ_SLACK_BYTES);
  return outcome;
}

describe('pth fuzz', () => {
  it('the unmutated bases load', () => {
    for (const [k, b] of Object.entries(BASES)) expect(survive(b), k).toBe('ok');
    const v = parsePth(BASES['views']!, 'views.pth');
    expect([...v.get('mt')!.data]).toEqual([1, 4, 2, 5, 3, 6]);
    expect([...v.get('row')!.data]).toEqual([4, 5, 6]);
    expect([...v.get('h')!.data]).toEqual([2, 4]);
  });

  it('the mutations reach every layer (zip, CRC, pickle VM, tensor checks) — so the fuzzing is not vacuous', () => {
    const outcomes = new Map<string, number>();
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(BASES)), mutation, (base, m) => {
        const o = survive(mutate(base, m));
        outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
      }),
      { numRuns: Math.max(RUNS, 400) },
    );
    if (process.env['FUZZ_VERBOSE']) console.log('pth fuzz outcomes', outcomes);
    for (const code of ['ok', 'FILE_FORMAT', 'UNSAFE_PICKLE', 'UNSUPPORTED_FORMAT']) expect([...outcomes.keys()]).toContain(code);
  });

  it('truncations, byte flips, header-field edits and pickle edits: only typed errors, no read past the file, no hang', () => {
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(BASES)), mutation, (base, m) => {
        survive(mutate(base, m));
      }),
      { numRuns: RUNS },
    );
  });

  it('every truncation of the zip64 base, byte by byte', () => {
    const b = BASES['zip64']!;
    const step = Math.max(1, Math.floor(b.length / RUNS));
    for (let n = 0; n < b.length; n += step) expect(survive(b.subarray(0, n))).not.toBe('ok');
  });
});

describe('pickle VM fuzz', () => {
  const globals = new Map<string, AllowedGlobal>([
    ['collections.OrderedDict', { call: () => new PickleDict('OrderedDict'), build: () => undefined }],
    ['torch.FloatStorage', {}],
  ]);
  const opcodes = [
    0x80, 0x95, 0x2e, 0x28, 0x30, 0x31, 0x32, 0x4e, 0x88, 0x89, 0x4b, 0x4d, 0x4a, 0x8a, 0x8b, 0x49, 0x4c, 0x47, 0x46, 0x58, 0x8c, 0x8d,
    0x54, 0x55, 0x56, 0x53, 0x42, 0x43, 0x8e, 0x96, 0x29, 0x74, 0x85, 0x86, 0x87, 0x5d, 0x6c, 0x61, 0x65, 0x7d, 0x64, 0x73, 0x75, 0x8f,
    0x90, 0x91, 0x71, 0x72, 0x70, 0x94, 0x68, 0x6a, 0x67, 0x63, 0x93, 0x52, 0x81, 0x92, 0x62, 0x51, 0x50, 0x69, 0x6f, 0x82, 0x0a,
  ];
  const run = (bytes: Uint8Array) => {
    try {
      unpickle(bytes, { file: 'fuzz.pkl', globals, persistentLoad: () => 'storage' });
    } catch (e) {
      if (!(e instanceof RwkvError)) throw e;
      expect(e.file).toBe('fuzz.pkl');
    }
  };

  it('random bytes and opcode soups: only typed errors, no hang', () => {
    const soup = fc.array(fc.oneof(fc.constantFrom(...opcodes), fc.nat(255), fc.constantFrom(0, 1, 0xff)), { maxLength: 200 });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          soup.map((a) => Uint8Array.from(a)),
        ),
        (bytes) => run(bytes),
      ),
      { numRuns: RUNS },
    );
  });

  it('a real pickle with random edits: only typed errors, no hang', () => {
    const base = Uint8Array.from([
      0x80,
      2,
      ...G('collections', 'OrderedDict'),
      0x71,
      0,
      0x29,
      0x52,
      0x28,
      ...S('k'),
      0x28,
      ...S('storage'),
      ...G('torch', 'FloatStorage'),
      0x4b,
      4,
      0x74,
      0x51,
      0x28,
      0x4b,
      1,
      0x4b,
      2,
      0x6c,
      0x86,
      0x75,
      0x7d,
      0x62,
      0x2e,
    ]);
    run(base);
    expect(unpickle(base, { file: 'base.pkl', globals, persistentLoad: () => 'storage' })).toBeInstanceOf(PickleDict);
    fc.assert(
      fc.property(fc.array(fc.record({ pos: fc.nat(), val: fc.nat(255) }), { minLength: 1, maxLength: 5 }), fc.nat(), (edits, cut) => {
        const b = base.slice(0, base.length - (cut % 4));
        for (const e of edits) b[e.pos % b.length] = e.val;
        run(b);
      }),
      { numRuns: RUNS },
    );
  });
});
