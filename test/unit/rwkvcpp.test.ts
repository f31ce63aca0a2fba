// rwkv.cpp `.bin` reader: the real tiny models against their .safetensors twins (docs/fixtures.md
// "rwkv.cpp .bin files"), the FP32 files against the FP16 files, small files built here for each converter rule, and
// hostile inputs.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RwkvError, type RwkvErrorCode } from '../../src/errors.ts';
import { floatToHalf, halfToFloat } from '../../src/tensor/float.ts';
import { loadCheckpoint, parseCheckpoint } from '../../src/io/load.ts';
import { dequantize, quantize } from '../../src/io/ggml-quants.ts';
import { parseRwkvCppBin, readRwkvCppFile, RWKV_CPP_MAGIC } from '../../src/io/rwkvcpp.ts';
import { parseSafetensors } from '../../src/io/safetensors.ts';
import { FileSource, MemorySource } from '../../src/io/source.ts';
import type { Checkpoint } from '../../src/tensor/tensor.ts';
import { CountingSource } from '../helpers/counting-source.ts';
import { fixturePath, TINY_MODELS } from '../helpers/fixtures.ts';
import {
  RWKVCPP_INVERTED_ATOL,
  RWKVCPP_INVERTED_LOGLOG_ATOL,
  RWKVCPP_RECONSTRUCTED_MAX_ULPS,
  RWKVCPP_ROUNDTRIP_ATOL,
} from '../helpers/tolerance.ts';
import { rng } from '../helpers/random-model.ts';

// ---- helpers ----

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function bitsOf(x: number): number {
  f32[0] = x;
  return u32[0]!;
}
/** Distance in float32 ulps (same-sign finite values; enough for these tensors). */
function ulpDistance(a: number, b: number): number {
  if (Object.is(a, b)) return 0;
  if (Math.sign(a) !== Math.sign(b)) return Infinity;
  return Math.abs(bitsOf(a) - bitsOf(b));
}
const fround = Math.fround;

interface Rec {
  key: string;
  shape: number[]; // PyTorch order; written reversed, as the converter does
  dtype?: number; // 0 FP32 (default), 1 FP16, others written as given
  data?: ArrayLike<number>; // defaults to 0, 1, 2, ...
  dims?: number[]; // raw ggml dims to write instead of the reversed shape
  dimCount?: number; // raw dim_count to write instead of dims.length
  keyLength?: number; // raw key_length to write instead of the key's length
  rawData?: Uint8Array; // raw data bytes instead of encoding `data`
}
interface Head {
  magic?: number;
  version?: number;
  nVocab?: number;
  nEmbed?: number;
  nLayer?: number;
  dataType?: number;
}

/** Build a .bin in memory; also returns where each record starts. */
function buildBin(records: Rec[], head: Head = {}): { bytes: Uint8Array; starts: number[] } {
  const parts: Uint8Array[] = [];
  const h = new DataView(new ArrayBuffer(24));
  [head.magic ?? RWKV_CPP_MAGIC, head.version ?? 101, head.nVocab ?? 4, head.nEmbed ?? 2, head.nLayer ?? 1, head.dataType ?? 1].forEach(
    (v, i) => h.setInt32(i * 4, v, true),
  );
  parts.push(new Uint8Array(h.buffer));
  const starts: number[] = [];
  let at = 24;
  for (const r of records) {
    starts.push(at);
    const key = new TextEncoder().encode(r.key);
    const dims = r.dims ?? [...r.shape].reverse();
    const dtype = r.dtype ?? 0;
    const rh = new DataView(new ArrayBuffer(12 + 4 * dims.length));
    rh.setInt32(0, r.dimCount ?? dims.length, true);
    rh.setInt32(4, r.keyLength ?? key.length, true);
    rh.setInt32(8, dtype, true);
    dims.forEach((d, i) => rh.setInt32(12 + 4 * i, d, true));
    let data = r.rawData;
    if (data === undefined) {
      const n = r.shape.reduce((a, b) => a * b, 1);
      const values = r.data ?? Array.from({ length: n }, (_, i) => i);
      const dv = new DataView(new ArrayBuffer(n * (dtype === 1 ? 2 : 4)));
      for (let i = 0; i < n; i++) {
        if (dtype === 1) dv.setUint16(2 * i, floatToHalf(values[i]!), true);
        else dv.setFloat32(4 * i, values[i]!, true);
      }
      data = new Uint8Array(dv.buffer);
    }
    for (const p of [new Uint8Array(rh.buffer), key, data]) {
      parts.push(p);
      at += p.length;
    }
  }
  const bytes = new Uint8Array(at);
  let o = 0;
  for (const p of parts) {
    bytes.set(p, o);
    o += p.length;
  }
  return { bytes, starts };
}

function errorOf(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** Expect a typed RwkvError whose message names the file (and the tensor, if given). */
function expectRwkvError(f: () => unknown, code: RwkvErrorCode | RwkvErrorCode[], file: string, tensor?: string): RwkvError {
  const e = errorOf(f);
  expect(e, 'expected an RwkvError').toBeInstanceOf(RwkvError);
  const err = e as RwkvError;
  expect(Array.isArray(code) ? code : [code]).toContain(err.code);
  expect(err.message).toContain(file);
  if (tensor !== undefined) {
    expect(err.tensor).toBe(tensor);
    expect(err.message).toContain(tensor);
  }
  return err;
}

const tensor = (ck: Checkpoint, key: string) => {
  const t = ck.get(key);
  if (t === undefined) throw new Error(`missing ${key}; have ${[...ck.keys()].join(', ')}`);
  return t;
};

// ---- 1. the real tiny models against their .safetensors twins ----

/**
 * The converter's forward transform (convert_pytorch_to_ggml.py), for the tensors whose stored
 * values went through exp. The converter computed it in float32 torch; here it is computed in
 * float64 and rounded once, which differs from torch's float32 exp by well under the tolerance.
 */
function converterForward(model: string, key: string): ((w: number) => number) | undefined {
  if (model.startsWith('4v0') && key.endsWith('.att.time_decay')) return (w) => fround(-Math.exp(w));
  if (model.startsWith('5v') && key.endsWith('.att.time_decay')) return (w) => fround(Math.exp(-Math.exp(w)));
  if (model.startsWith('5v1') && key.endsWith('.att.time_first')) return (w) => fround(Math.exp(w));
  return undefined;
}

// Tolerances for the reconstructed tensors: RWKVCPP_ROUNDTRIP_ATOL and RWKVCPP_RECONSTRUCTED_MAX_ULPS
// (test/helpers/tolerance.ts, with their reasons). The fixture makers inverted the converter's exp
// in float64 and rounded to float32; so does the reader.

describe('rwkv.cpp .bin: tiny models match their .safetensors twins', () => {
  for (const model of TINY_MODELS) {
    const binPath = fixturePath(`tiny-rwkv/tiny-rwkv-${model}-FP16.bin`);
    const stPath = fixturePath(`tiny-rwkv/tiny-rwkv-${model}-FP16.safetensors`);
    it.skipIf(binPath === undefined || stPath === undefined)(`${model}: same keys, shapes, dtypes and values`, () => {
      const binBytes = readFileSync(binPath!);
      const { format, checkpoint: bin } = parseCheckpoint(binBytes, binPath!);
      expect(format).toBe('rwkv.cpp');
      const st = parseSafetensors(readFileSync(stPath!), stPath!);
      const raw = new Map(readRwkvCppFile(binBytes, binPath!).records.map((r) => [r.key, r]));

      expect([...bin.keys()].sort()).toEqual([...st.keys()].sort());
      let reconstructed = 0;
      for (const [key, want] of st) {
        const got = tensor(bin, key);
        expect(got.shape, key).toEqual(want.shape);
        expect(got.storedAs, key).toBe(want.storedAs);
        // (lazy tensors decode on access: take each array once)
        const [gd, wd] = [got.data, want.data];
        expect(gd.length, key).toBe(wd.length);
        const forward = converterForward(model, key);
        if (forward === undefined) {
          // Not through exp: moved, reshaped or transposed only, so bit-identical.
          let firstDiff = -1;
          for (let i = 0; i < wd.length && firstDiff < 0; i++) if (!Object.is(gd[i], wd[i])) firstDiff = i;
          expect(firstDiff, `${key}: first differing index`).toBe(-1);
        } else {
          reconstructed++;
          const stored = raw.get(key)!.values();
          for (let i = 0; i < wd.length; i++) {
            expect(Math.abs(forward(gd[i]!) - stored[i]!), `${key}[${i}] round trip`).toBeLessThanOrEqual(RWKVCPP_ROUNDTRIP_ATOL);
            expect(ulpDistance(gd[i]!, wd[i]!), `${key}[${i}] vs .safetensors`).toBeLessThanOrEqual(RWKVCPP_RECONSTRUCTED_MAX_ULPS);
          }
        }
      }
      // v4: time_decay per layer; 5v1: time_decay and time_first; 5v2: time_decay; v6, v7: none.
      const layers = readRwkvCppFile(binBytes, binPath!).header.nLayer;
      const expected = { '4v0-660K': layers, '5v1-730K': 2 * layers, '5v2-730K': layers, '6v0-1m': 0, '7v0-834K': 0 }[model];
      expect(reconstructed).toBe(expected);
    });
  }
});

// ---- 2. FP32 files ----

describe('rwkv.cpp .bin: FP32 files', () => {
  for (const model of TINY_MODELS) {
    const p32 = fixturePath(`tiny-rwkv/tiny-rwkv-${model}-FP32.bin`);
    const p16 = fixturePath(`tiny-rwkv/tiny-rwkv-${model}-FP16.bin`);
    const pst = fixturePath(`tiny-rwkv/tiny-rwkv-${model}-FP16.safetensors`);
    it.skipIf(p32 === undefined || p16 === undefined || pst === undefined)(
      `${model}: same layout; the FP16 file is the FP32 values rounded to fp16`,
      () => {
        const b32 = readFileSync(p32!);
        const ck32 = parseRwkvCppBin(b32, p32!);
        const ck16 = parseRwkvCppBin(readFileSync(p16!), p16!);
        const st = parseSafetensors(readFileSync(pst!), pst!);
        if (model === '4v0-660K') expect(readRwkvCppFile(b32, p32!).header.version).toBe(100); // docs/fixtures.md "The models"
        expect([...ck32.keys()].sort()).toEqual([...st.keys()].sort());
        for (const [key, want] of st) {
          const t32 = tensor(ck32, key);
          const t16 = tensor(ck16, key);
          expect(t32.shape, key).toEqual(want.shape);
          expect(t32.storedAs, key).toBe('F32');
          // Both files come from one float32 checkpoint: tensors the FP16 file keeps in FP32 are
          // bit-identical (reconstructed ones too: same stored value, same inverse), and the others
          // are exactly the float32 value rounded to the nearest fp16 (torch's .half()).
          const [d32, d16] = [t32.data, t16.data];
          for (let i = 0; i < d32.length; i++) {
            const expect16 = t16.storedAs === 'F16' ? halfToFloat(floatToHalf(d32[i]!)) : d32[i]!;
            if (!Object.is(d16[i], expect16)) {
              throw new Error(`${key}[${i}]: FP16 file has ${d16[i]}, FP32 file ${d32[i]} (expected ${expect16})`);
            }
          }
        }
      },
    );
  }
});

// ---- each converter rule, on small files built here (non-square, so axis mix-ups show) ----

describe('rwkv.cpp .bin: converter rules undone', () => {
  const V = 4;
  const C = 3;
  const emb = { key: 'emb.weight', shape: [V, C], dtype: 1 };

  it('v4: time_mix squeezed to (C) → (1,1,C); time_decay = -exp(w) → w; time_first as is', () => {
    const w = [-1.5, 0.25, 2];
    const { bytes } = buildBin(
      [
        emb,
        { key: 'blocks.0.att.time_decay', shape: [C], data: w.map((x) => -Math.exp(x)) },
        { key: 'blocks.0.att.time_first', shape: [C], data: [0.5, -0.5, 3] },
        { key: 'blocks.0.att.time_mix_k', shape: [C], data: [0.1, 0.2, 0.3] },
        { key: 'blocks.0.ffn.time_mix_r', shape: [C] },
      ],
      { nEmbed: C },
    );
    const ck = parseRwkvCppBin(bytes, 'v4.bin');
    expect(tensor(ck, 'emb.weight').shape).toEqual([V, C]);
    expect(tensor(ck, 'emb.weight').storedAs).toBe('F16');
    expect([...tensor(ck, 'emb.weight').data]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    const td = tensor(ck, 'blocks.0.att.time_decay');
    expect(td.shape).toEqual([C]);
    td.data.forEach((x, i) => expect(Math.abs(x - w[i]!)).toBeLessThan(RWKVCPP_INVERTED_ATOL));
    expect([...tensor(ck, 'blocks.0.att.time_first').data]).toEqual([0.5, -0.5, 3]);
    expect(tensor(ck, 'blocks.0.att.time_mix_k').shape).toEqual([1, 1, C]);
    expect([...tensor(ck, 'blocks.0.att.time_mix_k').data]).toEqual([0.1, 0.2, 0.3].map(fround));
    expect(tensor(ck, 'blocks.0.ffn.time_mix_r').shape).toEqual([1, 1, C]);
  });

  it('v5 per-head (model.py 5.0/5.1): (H,1,1) exp(-exp(w)) and exp(u) → (H)', () => {
    const H = 2;
    const w = [-2, 0.5];
    const u = [-1, 1.25];
    const { bytes } = buildBin(
      [
        emb,
        { key: 'blocks.0.att.ln_x.weight', shape: [C] },
        { key: 'blocks.0.att.time_decay', shape: [H, 1, 1], data: w.map((x) => Math.exp(-Math.exp(x))) },
        { key: 'blocks.0.att.time_first', shape: [H, 1, 1], data: u.map(Math.exp) },
        { key: 'blocks.0.att.time_mix_g', shape: [C] },
      ],
      { nEmbed: C },
    );
    const ck = parseRwkvCppBin(bytes, 'v5.bin');
    const td = tensor(ck, 'blocks.0.att.time_decay');
    const tf = tensor(ck, 'blocks.0.att.time_first');
    expect(td.shape).toEqual([H]);
    expect(tf.shape).toEqual([H]);
    td.data.forEach((x, i) => expect(Math.abs(x - w[i]!)).toBeLessThan(RWKVCPP_INVERTED_LOGLOG_ATOL));
    tf.data.forEach((x, i) => expect(Math.abs(x - u[i]!)).toBeLessThan(RWKVCPP_INVERTED_ATOL));
    expect(tensor(ck, 'blocks.0.att.time_mix_g').shape).toEqual([1, 1, C]);
  });

  it('v5.2: (H,N,1) exp(-exp(w)) → (H,N); time_faaaa (H,N,1) → (H,N), raw; H = 1 lost its head axis', () => {
    const w = [-3, -1, 0.5, 1, 0.25, -0.75];
    const { bytes } = buildBin(
      [
        emb,
        { key: 'blocks.0.att.ln_x.weight', shape: [6] },
        { key: 'blocks.0.att.time_decay', shape: [2, 3, 1], data: w.map((x) => Math.exp(-Math.exp(x))) },
        { key: 'blocks.0.att.time_faaaa', shape: [2, 3, 1], data: [1, 2, 3, 4, 5, 6] },
        // one head: the converter's squeeze left (N) and its unsqueeze (N,1)
        { key: 'blocks.1.att.time_decay', shape: [6, 1], data: w.map((x) => Math.exp(-Math.exp(x))) },
        { key: 'blocks.1.att.time_faaaa', shape: [6, 1] },
      ],
      { nEmbed: C },
    );
    const ck = parseRwkvCppBin(bytes, 'v52.bin');
    const td = tensor(ck, 'blocks.0.att.time_decay');
    expect(td.shape).toEqual([2, 3]);
    td.data.forEach((x, i) => expect(Math.abs(x - w[i]!)).toBeLessThan(RWKVCPP_INVERTED_LOGLOG_ATOL));
    expect(tensor(ck, 'blocks.0.att.time_faaaa').shape).toEqual([2, 3]);
    expect([...tensor(ck, 'blocks.0.att.time_faaaa').data]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(tensor(ck, 'blocks.1.att.time_decay').shape).toEqual([1, 6]);
    expect(tensor(ck, 'blocks.1.att.time_faaaa').shape).toEqual([1, 6]);
  });

  it('v6: LoRA matrices transposed back, time_maa_w2 (5,C,D) → (5,D,C), time_decay → (1,1,C)', () => {
    const D = 2;
    const Dd = 4;
    // Stored (5D, C): element [r][c] = 100r + c. Original (C, 5D): [c][r].
    const w1 = Array.from({ length: 5 * D * C }, (_, i) => 100 * Math.floor(i / C) + (i % C));
    // Stored (5, C, D): [s][c][d] = 100s + 10c + d. Original (5, D, C): [s][d][c].
    const w2 = Array.from({ length: 5 * C * D }, (_, i) => 100 * Math.floor(i / (C * D)) + 10 * Math.floor((i % (C * D)) / D) + (i % D));
    const { bytes } = buildBin(
      [
        emb,
        { key: 'blocks.0.att.time_maa_x', shape: [C] },
        { key: 'blocks.0.att.time_maa_w1', shape: [5 * D, C], data: w1 },
        { key: 'blocks.0.att.time_maa_w2', shape: [5, C, D], data: w2 },
        { key: 'blocks.0.att.time_decay_w1', shape: [Dd, C] },
        { key: 'blocks.0.att.time_decay_w2', shape: [C, Dd] },
        { key: 'blocks.0.att.time_decay', shape: [1, C, 1], data: [-1, 0, 1] },
        { key: 'blocks.0.att.time_faaaa', shape: [1, C, 1] },
        { key: 'blocks.0.ffn.time_maa_k', shape: [C] },
      ],
      { nEmbed: C },
    );
    const ck = parseRwkvCppBin(bytes, 'v6.bin');
    const m1 = tensor(ck, 'blocks.0.att.time_maa_w1');
    expect(m1.shape).toEqual([C, 5 * D]);
    for (let c = 0; c < C; c++) for (let r = 0; r < 5 * D; r++) expect(m1.data[c * 5 * D + r]).toBe(100 * r + c);
    const m2 = tensor(ck, 'blocks.0.att.time_maa_w2');
    expect(m2.shape).toEqual([5, D, C]);
    for (let s = 0; s < 5; s++)
      for (let d = 0; d < D; d++) for (let c = 0; c < C; c++) expect(m2.data[s * D * C + d * C + c]).toBe(100 * s + 10 * c + d);
    expect(tensor(ck, 'blocks.0.att.time_decay_w1').shape).toEqual([C, Dd]);
    expect(tensor(ck, 'blocks.0.att.time_decay_w2').shape).toEqual([Dd, C]);
    const dw2 = tensor(ck, 'blocks.0.att.time_decay_w2'); // stored [c][j] = c*Dd + j
    expect(dw2.data[1 * C + 2]).toBe(2 * Dd + 1);
    expect(tensor(ck, 'blocks.0.att.time_decay').shape).toEqual([1, 1, C]);
    expect([...tensor(ck, 'blocks.0.att.time_decay').data]).toEqual([-1, 0, 1]); // raw in v6
    expect(tensor(ck, 'blocks.0.att.time_faaaa').shape).toEqual([1, C]);
    expect(tensor(ck, 'blocks.0.att.time_maa_x').shape).toEqual([1, 1, C]);
    expect(tensor(ck, 'blocks.0.ffn.time_maa_k').shape).toEqual([1, 1, C]);
  });

  it('v7: x_rwkvag split into x_r, x_w, x_k, x_v, x_a, x_g; LoRA transposed back; the rest as stored', () => {
    const D = 2;
    const { bytes } = buildBin(
      [
        emb,
        { key: 'blocks.0.att.x_rwkvag', shape: [6, 1, C] }, // 0..17
        { key: 'blocks.0.att.w1', shape: [D, C], dtype: 1 },
        { key: 'blocks.0.att.g2', shape: [C, D], dtype: 1 },
        { key: 'blocks.0.att.k_k', shape: [1, 1, C] },
        { key: 'blocks.0.att.r_k', shape: [1, C] },
        { key: 'blocks.0.ffn.x_k', shape: [1, 1, C] },
      ],
      { nEmbed: C },
    );
    const ck = parseRwkvCppBin(bytes, 'v7.bin');
    ['x_r', 'x_w', 'x_k', 'x_v', 'x_a', 'x_g'].forEach((n, i) => {
      const t = tensor(ck, `blocks.0.att.${n}`);
      expect(t.shape).toEqual([1, 1, C]);
      expect([...t.data]).toEqual([3 * i, 3 * i + 1, 3 * i + 2]);
    });
    expect(ck.has('blocks.0.att.x_rwkvag')).toBe(false);
    const w1 = tensor(ck, 'blocks.0.att.w1'); // stored [d][c] = d*C + c
    expect(w1.shape).toEqual([C, D]);
    expect(w1.storedAs).toBe('F16');
    expect([...w1.data]).toEqual([0, 3, 1, 4, 2, 5]);
    expect(tensor(ck, 'blocks.0.att.g2').shape).toEqual([D, C]);
    expect(tensor(ck, 'blocks.0.att.k_k').shape).toEqual([1, 1, C]);
    expect(tensor(ck, 'blocks.0.att.r_k').shape).toEqual([1, C]);
    expect(tensor(ck, 'blocks.0.ffn.x_k').shape).toEqual([1, 1, C]);
  });
});

// ---- 3. hostile inputs ----

describe('rwkv.cpp .bin: hostile inputs give typed errors naming the file', () => {
  const C = 3;
  const good: Rec[] = [
    { key: 'emb.weight', shape: [4, C], dtype: 1 },
    { key: 'blocks.0.att.time_decay', shape: [C], data: [-1, -2, -3] },
    { key: 'blocks.0.att.time_first', shape: [C] },
    { key: 'blocks.0.att.time_mix_k', shape: [C] },
  ];
  const F = 'hostile.bin';
  const build = (recs: Rec[], head: Head = {}) => buildBin(recs, { nEmbed: C, ...head }).bytes;
  const parse = (b: Uint8Array) => () => parseRwkvCppBin(b, F);
  /** Parse and read every tensor (values are checked when a tensor is read). */
  const parseAll = (b: Uint8Array) => () => {
    for (const t of parseRwkvCppBin(b, F).values()) void t.data;
  };

  it('the well-formed base file parses (so the failures below are due to the damage)', () => {
    expect(parseRwkvCppBin(build(good), F).size).toBe(4);
  });

  it('header: too short, wrong magic, unknown version, bad sizes, bad data type', () => {
    const ok = build(good);
    for (const n of [0, 3, 23]) expectRwkvError(parse(ok.subarray(0, n)), 'FILE_FORMAT', F);
    expectRwkvError(parse(build(good, { magic: 0x67676a74 })), 'FILE_FORMAT', F); // "ggjt"
    expectRwkvError(parse(build(good, { version: 102 })), 'FILE_FORMAT', F);
    expectRwkvError(parse(build(good, { nVocab: -4 })), 'FILE_FORMAT', F);
    expectRwkvError(parse(build(good, { nLayer: 0 })), 'FILE_FORMAT', F);
    expectRwkvError(parse(build(good, { dataType: 10 })), 'FILE_FORMAT', F);
    expectRwkvError(parse(build(good, { nVocab: 5 })), 'FILE_FORMAT', F, 'emb.weight'); // disagrees with emb
  });

  it('truncated record headers and truncated tensor data', () => {
    const { bytes, starts } = buildBin(good, { nEmbed: C });
    const s2 = starts[2]!;
    expectRwkvError(parse(bytes.subarray(0, s2 + 5)), 'FILE_FORMAT', F); // inside the 12-byte header
    expectRwkvError(parse(bytes.subarray(0, s2 + 14)), 'FILE_FORMAT', F); // inside dims / key
    const keyEnd = s2 + 12 + 4 + 'blocks.0.att.time_first'.length;
    expectRwkvError(parse(bytes.subarray(0, keyEnd + 5)), 'FILE_FORMAT', F, 'blocks.0.att.time_first');
    expectRwkvError(parse(bytes.subarray(0, bytes.length - 1)), 'FILE_FORMAT', F, 'blocks.0.att.time_mix_k');
  });

  it('every cut inside a record fails; none hangs or throws anything but RwkvError', () => {
    const { bytes, starts } = buildBin(good, { nEmbed: C });
    const boundaries = new Set([...starts, bytes.length]);
    for (let n = 24; n < bytes.length; n++) {
      if (boundaries.has(n)) continue;
      expectRwkvError(parse(bytes.subarray(0, n)), 'FILE_FORMAT', F);
    }
  });

  it('bad dim counts, negative / zero / huge dims, bad key lengths: no allocation, typed errors', () => {
    const bad = (r: Partial<Rec>) => build([good[0]!, { key: 'blocks.0.att.time_first', shape: [C], ...r }, good[1]!, good[3]!]);
    for (const dimCount of [0, 4, -1, 0x7fffffff]) expectRwkvError(parse(bad({ dimCount })), 'FILE_FORMAT', F);
    expectRwkvError(parse(bad({ dims: [-3] })), 'FILE_FORMAT', F, 'blocks.0.att.time_first');
    expectRwkvError(parse(bad({ dims: [0] })), 'FILE_FORMAT', F, 'blocks.0.att.time_first');
    // 2^31-1 cubed float32 values: must be refused from the size, before any allocation or read
    // of the data (counted: no read longer than a record header's look-ahead, nothing read twice)
    for (const dims of [[0x7fffffff, 0x7fffffff, 0x7fffffff], [0x40000000]]) {
      const src = new CountingSource(bad({ dims, rawData: new Uint8Array(12) }), F);
      expectRwkvError(() => parseRwkvCppBin(src, F), 'FILE_FORMAT', F, 'blocks.0.att.time_first');
      expect(src.largestRead).toBeLessThanOrEqual(12 + 4 * 3 + 1024);
      expect(src.bytesRead).toBeLessThanOrEqual(3 * (12 + 4 * 3 + 1024));
    }
    for (const keyLength of [0, -1, 0x7fffffff, 5000]) expectRwkvError(parse(bad({ keyLength })), 'FILE_FORMAT', F);
    expectRwkvError(parse(bad({ keyLength: 200 })), 'FILE_FORMAT', F); // longer than what is left
  });

  it('quantized: version 101 reads, rows must be whole blocks, version 100 is refused; removed and unknown types', () => {
    const values = Array.from({ length: 64 }, (_, i) => Math.sin(i) * 0.3);
    const key = 'blocks.0.att.key.weight';
    for (const [dtype, name] of [
      [2, 'Q4_0'],
      [3, 'Q4_1'],
      [7, 'Q5_0'],
      [8, 'Q5_1'],
      [9, 'Q8_0'],
    ] as const) {
      const q = quantize(name, values);
      const rec = (shape: number[]) => ({ key, shape, dtype, rawData: q });
      const ck = parseRwkvCppBin(build([...good, rec([2, 32])], { dataType: dtype }), F);
      const t = tensor(ck, key);
      expect(t.storedAs).toBe(name);
      expect(t.shape).toEqual([2, 32]);
      expect([...t.data]).toEqual([...dequantize(name, q, 64)]);
      expect([...t.raw!()]).toEqual([...q]); // stored as in the checkpoint: the blocks themselves
      // a row of 16 values is half a block; ggml cannot have written it
      const e = expectRwkvError(parse(build([...good, rec([4, 16])])), 'FILE_FORMAT', F, key);
      expect(e.message).toContain('multiple of 32');
      // file version 100 quantized layouts are not knowable (FILE_FORMAT.md): refused, naming the tensor
      const old = expectRwkvError(parse(build([...good, rec([2, 32])], { version: 100 })), 'UNSUPPORTED_FORMAT', F, key);
      expect(old.message).toContain(name);
      expect(old.message).toContain('version 100');
      // one byte short of the blocks: truncated
      expectRwkvError(parse(build([...good, { ...rec([2, 32]), rawData: q.subarray(0, q.length - 1) }])), 'FILE_FORMAT', F, key);
    }
    // FP32/FP16 records in a version 100 file are fine (4v0-660K-FP32.bin is one)
    expect(parseRwkvCppBin(build(good, { version: 100 }), F).size).toBe(4);
    const removed = expectRwkvError(
      parse(build([{ key: 'emb.weight', shape: [4, C], dtype: 5, rawData: new Uint8Array(64) }])),
      'UNSUPPORTED_DTYPE',
      F,
      'emb.weight',
    );
    expect(removed.message).toContain('Q4_2');
    for (const dtype of [10, -1, 0x7fffffff]) {
      expectRwkvError(
        parse(build([{ key: 'emb.weight', shape: [4, C], dtype, rawData: new Uint8Array(64) }])),
        'FILE_FORMAT',
        F,
        'emb.weight',
      );
    }
  });

  it('duplicate keys, invalid UTF-8 keys, values the converter cannot have written, unknown layouts', () => {
    expectRwkvError(parse(build([...good, good[3]!])), 'FILE_FORMAT', F, 'blocks.0.att.time_mix_k');
    const badKey = build(good);
    badKey[24 + 12 + 8] = 0xff; // a byte inside "emb.weight"
    expectRwkvError(parse(badKey), 'FILE_FORMAT', F);
    // v4 time_decay is -exp(w) <= 0; a positive value would become NaN
    // (reported when the tensor is read: parsing reads no data)
    const badV4 = build([good[0]!, { ...good[1]!, data: [-1, 0.5, -3] }, good[2]!]);
    expect(parseRwkvCppBin(badV4, F).get('blocks.0.att.time_decay')!.shape).toEqual([C]);
    expectRwkvError(parseAll(badV4), 'FILE_FORMAT', F, 'blocks.0.att.time_decay');
    // v5 time_decay is exp(-exp(w)) in [0, 1]
    const v5 = (decay: number[]) =>
      build([
        good[0]!,
        { key: 'blocks.0.att.ln_x.weight', shape: [C] },
        { key: 'blocks.0.att.time_decay', shape: [2, 1, 1], data: decay },
        { key: 'blocks.0.att.time_first', shape: [2, 1, 1] },
      ]);
    expect(parseRwkvCppBin(v5([0.5, 0.25]), F).get('blocks.0.att.time_decay')!.shape).toEqual([2]);
    parseAll(v5([0.5, 0.25]))();
    expectRwkvError(parseAll(v5([0.5, 1.5])), 'FILE_FORMAT', F, 'blocks.0.att.time_decay');
    expectRwkvError(parseAll(v5([NaN, 0.5])), 'FILE_FORMAT', F, 'blocks.0.att.time_decay');
    // v7 x_rwkvag that is not six vectors
    expectRwkvError(
      parse(build([good[0]!, { key: 'blocks.0.att.k_k', shape: [1, 1, C] }, { key: 'blocks.0.att.x_rwkvag', shape: [5, 1, C] }])),
      'FILE_FORMAT',
      F,
      'blocks.0.att.x_rwkvag',
    );
    // no key says which version wrote it
    expectRwkvError(parse(build([good[0]!])), 'UNKNOWN_ARCHITECTURE', F);
    // a squeezed .time_* tensor the reader has no rule for
    expectRwkvError(
      parse(build([...good, { key: 'blocks.0.att.time_mystery', shape: [C] }])),
      'UNSUPPORTED_FORMAT',
      F,
      'blocks.0.att.time_mystery',
    );
  });

  it('random byte damage: parses or throws RwkvError, never anything else, never hangs', () => {
    const base = build(good);
    const rand = rng(12345);
    let failures = 0;
    for (let iter = 0; iter < 3000; iter++) {
      const b = base.slice();
      const flips = 1 + Math.floor(rand() * 4);
      for (let f = 0; f < flips; f++) {
        // mostly the header and record headers, where the lengths live
        const at = rand() < 0.7 ? Math.floor(rand() * Math.min(b.length, 96)) : Math.floor(rand() * b.length);
        b[at] = rand() < 0.5 ? Math.floor(rand() * 256) : b[at]! ^ (1 << Math.floor(rand() * 8));
      }
      const cut = rand() < 0.2 ? b.subarray(0, Math.floor(rand() * b.length)) : b;
      const e = errorOf(parseAll(cut));
      if (e !== undefined) {
        failures++;
        if (!(e instanceof RwkvError)) throw new Error(`iteration ${iter}: ${String(e)}`);
        expect(e.message).toContain(F);
      }
    }
    expect(failures).toBeGreaterThan(1000); // the damage did reach the parser
    // no hang: vitest's per-test timeout (vitest.config.ts); no wall-clock assertion
  });
});

// ---- 4. lazy reading ----

describe('rwkv.cpp .bin: lazy reading from a ByteSource', () => {
  const p = fixturePath('tiny-rwkv/tiny-rwkv-7v0-834K-FP16.bin');
  it.skipIf(p === undefined)('parsing reads only the headers; a tensor reads only its own bytes, when accessed', () => {
    const src = new CountingSource(new Uint8Array(readFileSync(p!)), p!);
    const ck = parseRwkvCppBin(src);
    const file = readRwkvCppFile(new MemorySource(src.inner.read(0, src.size)), p!);
    // one read for the header, then one per record, each at most the record header, 3 dims and
    // the longest key (1024 bytes): no tensor data is decoded, and most of it is never touched
    expect(src.reads).toBe(1 + file.records.length);
    expect(src.bytesRead).toBeLessThanOrEqual(24 + file.records.length * (12 + 12 + 1024));
    expect(src.bytesRead).toBeLessThan(src.size / 4);

    const before = src.bytesRead;
    const key = ck.get('blocks.3.ffn.key.weight')!;
    void key.data;
    const rec = file.records.find((r) => r.key === 'blocks.3.ffn.key.weight')!;
    expect(src.bytesRead - before).toBe(rec.dataBytes);
    // a transposed LoRA matrix reads its record; each x_rwkvag part only its own sixth
    const mid = src.bytesRead;
    void ck.get('blocks.2.att.x_k')!.data;
    const xr = file.records.find((r) => r.key === 'blocks.2.att.x_rwkvag')!;
    expect(src.bytesRead - mid).toBe(xr.dataBytes / 6);
    expect(ck.get('blocks.2.att.x_k')!.raw!().length).toBe(xr.dataBytes / 6);
    expect(ck.get('blocks.2.att.w1')!.raw).toBeUndefined(); // transposed: not the stored bytes
    expect(ck.get('blocks.2.att.time_decay')).toBeUndefined();
  });

  it.skipIf(p === undefined)('loadCheckpoint reads the file through a FileSource: same tensors as from memory', async () => {
    const { format, checkpoint } = await loadCheckpoint(p!);
    expect(format).toBe('rwkv.cpp');
    const mem = parseRwkvCppBin(readFileSync(p!), p!);
    expect([...checkpoint.keys()]).toEqual([...mem.keys()]);
    for (const [k, t] of mem) {
      const [a, b] = [checkpoint.get(k)!.data, t.data];
      expect(a.length, k).toBe(b.length);
      for (let i = 0; i < a.length; i++)
        if (!Object.is(a[i], b[i])) throw new Error(`${k}[${i}]: ${a[i]} from the file, ${b[i]} from memory`);
    }
    // and a FileSource directly
    expect(parseRwkvCppBin(new FileSource(p!)).size).toBe(mem.size);
  });

  it('errors from a source name the file', () => {
    const e = errorOf(() => parseRwkvCppBin(new MemorySource(new Uint8Array(10), 'named-source.bin')));
    expect(e).toBeInstanceOf(RwkvError);
    expect((e as RwkvError).message).toContain('named-source.bin');
  });
});
