// rwkv.cpp `.bin` writer: the real tiny files reproduced byte for byte (from the reader, and from
// the .safetensors twins, which carry no trace of the .bin), the synthetic models and random
// models through .bin and back (same tensors, same logits), the converter's individual rules, and
// the refusals.

import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RwkvError } from '../../src/errors.ts';
import { RwkvModel } from '../../src/index.ts';
import { halfToFloat } from '../../src/tensor/float.ts';
import { type RwkvCppRecord, parseRwkvCppBin, readRwkvCppFile } from '../../src/io/rwkvcpp.ts';
import { type RwkvCppWriteOptions, rwkvCppWriter, writeRwkvCppBin } from '../../src/io/rwkvcpp-write.ts';
import { parseSafetensors } from '../../src/io/safetensors.ts';
import { type Checkpoint, type HostTensor, type StoredDType, makeTensor } from '../../src/tensor/tensor.ts';
import { MemorySink } from '../../src/io/write.ts';
import { modelSpec } from '../helpers/arbitraries.ts';
import { SYNTHETIC_MODELS, TINY_MODELS, fixturePath, readOracle } from '../helpers/fixtures.ts';
import { type RandomModelSpec, randomCheckpoint } from '../helpers/random-model.ts';
import { LOGITS_ORACLE_ATOL, SELF_ATOL, compareClose } from '../helpers/tolerance.ts';

// ---- helpers ----

function writeBin(ck: Checkpoint, options: RwkvCppWriteOptions = {}): Uint8Array {
  const sink = new MemorySink();
  writeRwkvCppBin(ck, sink, options);
  return sink.bytes();
}

/** Indices where two byte arrays differ (lengths must match). */
function differing(a: Uint8Array, b: Uint8Array): number[] {
  expect(a.length).toBe(b.length);
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) out.push(i);
  return out;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function ulps(a: number, b: number): number {
  if (Object.is(a, b)) return 0;
  f32[0] = a;
  const ua = u32[0]!;
  f32[0] = b;
  const ub = u32[0]!;
  return ua >>> 31 !== ub >>> 31 ? Infinity : Math.abs(ua - ub);
}

/** The converter's exp transforms (the records whose values a float32 round trip can move). */
function throughExp(key: string, arch: 'v4' | 'v5' | 'other'): ((w: number) => number) | undefined {
  const fr = Math.fround;
  if (arch === 'v4' && key.endsWith('.att.time_decay')) return (w) => fr(-Math.exp(w));
  if (arch === 'v5' && key.endsWith('.att.time_decay')) return (w) => fr(Math.exp(-fr(Math.exp(w))));
  if (arch === 'v5' && key.endsWith('.att.time_first')) return (w) => fr(Math.exp(w));
  return undefined;
}
const archOf = (ck: Checkpoint): 'v4' | 'v5' | 'other' => {
  const keys = [...ck.keys()];
  if (keys.some((k) => k.endsWith('.att.time_maa_x') || k.endsWith('.att.k_k'))) return 'other';
  if (keys.some((k) => k.endsWith('.att.ln_x.weight'))) return 'v5';
  return 'v4';
};

/** The record whose data holds byte `at`, if any. */
function recordAt(records: readonly RwkvCppRecord[], at: number): RwkvCppRecord | undefined {
  return records.find((r) => at >= r.dataOffset && at < r.dataOffset + r.dataBytes);
}

/**
 * The checkpoint tensors of `a` and `b` are the same: keys, shapes, and values bit for bit,
 * except those the converter put through exp, which must agree in the stored domain to 1 float32
 * ulp (a float32 value of w does not always map back to the same stored value; docs/fixtures.md
 * "rwkv.cpp .bin files"). Returns how many tensors went through exp.
 */
function expectSameTensors(label: string, a: Checkpoint, b: Checkpoint): number {
  // (same keys; v7's six x_* come back in rwkv.cpp's order, where the first of them stood)
  expect([...b.keys()].sort(), label).toEqual([...a.keys()].sort());
  const arch = archOf(a);
  let exps = 0;
  for (const [key, ta] of a) {
    const tb = b.get(key)!;
    expect(tb.shape, `${label} ${key}`).toEqual(ta.shape);
    const [da, db] = [ta.data, tb.data];
    const forward = throughExp(key, arch);
    if (forward !== undefined) exps++;
    for (let i = 0; i < da.length; i++) {
      if (Object.is(da[i], db[i])) continue;
      if (forward === undefined || ulps(forward(da[i]!), forward(db[i]!)) > 1) {
        throw new Error(`${label} ${key}[${i}]: ${db[i]} after the round trip, ${da[i]} before`);
      }
    }
  }
  return exps;
}

// ---- 1. the real files, byte for byte ----

describe('rwkv.cpp writer: the tiny rwkv.cpp files come back byte for byte', () => {
  for (const model of TINY_MODELS) {
    for (const dt of ['FP32', 'FP16'] as const) {
      const p = fixturePath(`tiny-rwkv/tiny-rwkv-${model}-${dt}.bin`);
      it.skipIf(p === undefined)(`${model} ${dt}: .bin → reader → writer → the same bytes`, () => {
        const bytes = new Uint8Array(readFileSync(p!));
        const { header } = readRwkvCppFile(bytes, p!);
        const ck = parseRwkvCppBin(bytes, p!);
        // Same header version as the file: identical, every byte.
        expect(differing(writeBin(ck, { fileVersion: header.version as 100 | 101 }), bytes)).toEqual([]);
        // The CheckpointWriter (defaults: version 101, FP16 file iff the matrices are F16): the only
        // difference is the version field of the 4v0 files, which are version 100 (docs/fixtures.md
        // "The models").
        const sink = new MemorySink();
        rwkvCppWriter.write(ck, sink, {});
        const d = differing(sink.bytes(), bytes);
        if (header.version === 100) {
          expect(d).toEqual([4]); // int32 LE 100 → 101: only the low byte changes
          expect(sink.bytes()[4]).toBe(101);
        } else {
          expect(d).toEqual([]);
        }
      });
    }
    const p32 = fixturePath(`tiny-rwkv/tiny-rwkv-${model}-FP32.bin`);
    const p16 = fixturePath(`tiny-rwkv/tiny-rwkv-${model}-FP16.bin`);
    it.skipIf(p32 === undefined || p16 === undefined)(`${model}: FP32 .bin written as FP16 is rwkv.cpp's FP16 file`, () => {
      const b16 = new Uint8Array(readFileSync(p16!));
      const ck32 = parseRwkvCppBin(readFileSync(p32!), p32!);
      const out = writeBin(ck32, { dtype: 'F16', fileVersion: readRwkvCppFile(b16).header.version as 100 | 101 });
      expect(differing(out, b16)).toEqual([]);
    });
  }
});

describe('rwkv.cpp writer: quantized files', () => {
  const p = fixturePath('tiny-rwkv/quantized/tiny-rwkv-7v0-834K-Q5_1.bin');
  it.skipIf(p === undefined)('are written as FP32 by default, holding the dequantized values exactly', () => {
    const ck = parseRwkvCppBin(readFileSync(p!), p!);
    const bin = writeBin(ck);
    expect(readRwkvCppFile(bin).header.dataType).toBe(0);
    const back = parseRwkvCppBin(bin, 'dequantized.bin');
    expect(expectSameTensors('7v0 Q5_1', ck, back)).toBe(0);
    expect(back.get('blocks.0.att.key.weight')!.storedAs).toBe('F32');
  });
});

describe('rwkv.cpp writer: from the .safetensors twins (no trace of the .bin), the converter reproduced', () => {
  for (const model of TINY_MODELS) {
    const pb = fixturePath(`tiny-rwkv/tiny-rwkv-${model}-FP16.bin`);
    const ps = fixturePath(`tiny-rwkv/tiny-rwkv-${model}-FP16.safetensors`);
    it.skipIf(pb === undefined || ps === undefined)(
      `${model}: every byte equal but values the converter put through exp, and those within 1 ulp`,
      () => {
        const bin = new Uint8Array(readFileSync(pb!));
        const file = readRwkvCppFile(bin, pb!);
        const st = parseSafetensors(readFileSync(ps!), ps!);
        // the .safetensors has its keys sorted; the converter walks the checkpoint in its own order
        const ordered: Checkpoint = new Map([...parseRwkvCppBin(bin, pb!).keys()].map((k) => [k, st.get(k)!]));
        expect(rwkvCppWriter.cannot(ordered)).toBeUndefined();
        const out = writeBin(ordered, { fileVersion: file.header.version as 100 | 101 }); // default dtype: F16 matrices → FP16 file
        const arch = archOf(ordered);
        const moved = new Set<RwkvCppRecord>();
        for (const at of differing(out, bin)) {
          const r = recordAt(file.records, at);
          expect(r !== undefined && throughExp(r.key, arch) !== undefined, `byte ${at} (${r?.key ?? 'not tensor data'})`).toBe(true);
          moved.add(r!);
        }
        const view = new DataView(out.buffer);
        for (const r of moved) {
          const stored = r.values();
          for (let i = 0; i < stored.length; i++) {
            const ours = view.getFloat32(r.dataOffset + 4 * i, true);
            expect(ulps(ours, stored[i]!), `${r.key}[${i}]`).toBeLessThanOrEqual(1);
          }
        }
        // 6v0, 7v0: nothing goes through exp, so every byte is rwkv.cpp's
        if (arch === 'other') expect(moved.size).toBe(0);
      },
    );
  }
});

// ---- 2. synthetic and random models: .bin and back ----

async function logitsOf(ck: Checkpoint, tokens: number[]): Promise<Float32Array> {
  const model = RwkvModel.fromCheckpoint(ck, { backend: 'ts' });
  return (await model.forward(tokens)).logits as Float32Array;
}

describe('rwkv.cpp writer: synthetic models (BF16 safetensors) → .bin → reader', () => {
  for (const s of SYNTHETIC_MODELS) {
    const p = fixturePath(`synthetic/models/synthetic-${s}-BF16.safetensors`);
    if (s.endsWith('-state')) {
      it.skipIf(p === undefined)(`${s}: a state-tuning file alone (no emb.weight) is refused`, () => {
        const ck = parseSafetensors(readFileSync(p!), p!);
        expect(rwkvCppWriter.cannot(ck)).toMatch(/emb\.weight/);
        const e = (() => {
          try {
            writeBin(ck);
          } catch (err) {
            return err;
          }
        })();
        expect(e).toBeInstanceOf(RwkvError);
        expect((e as RwkvError).code).toBe('UNSUPPORTED_FORMAT');
      });
      continue;
    }
    it.skipIf(p === undefined)(`${s}: same tensors, same logits as the official numbers`, async (ctx) => {
      const ck = parseSafetensors(readFileSync(p!), p!);
      expect(rwkvCppWriter.cannot(ck)).toBeUndefined();
      const bin = writeBin(ck); // BF16 source → FP32 file by default: bf16 values are exact in fp32
      expect(readRwkvCppFile(bin).header.dataType).toBe(0);
      const back = parseRwkvCppBin(bin, `${s}.bin`);
      const exps = expectSameTensors(s, ck, back);
      const layers = readOracle(`synthetic/oracle/synthetic-${s}.json`)?.arch.n_layer ?? 0;
      if (s.startsWith('rwkv4')) expect(exps).toBe(layers);
      if (s.startsWith('rwkv5.1')) expect(exps).toBe(2 * layers);
      if (s.startsWith('rwkv5.2')) expect(exps).toBe(layers);
      // every stored value is bit-identical or one float32 ulp away in the exp domain; the logits
      // agree with the official numbers at the oracle tolerance
      const oracle = readOracle(`synthetic/oracle/synthetic-${s}.json`);
      const prompt = oracle?.prompts.find((q) => q.name === 'sentence');
      if (prompt === undefined) return ctx.skip();
      const got = await logitsOf(back, prompt.tokens);
      const r = compareClose(`${s} seq_logits from .bin`, got, prompt.results['bf16']!.seq_logits, LOGITS_ORACLE_ATOL);
      expect(r.ok, r.message).toBe(true);
    });
  }
});

describe('rwkv.cpp writer: random models of every version', () => {
  /**
   * A `.time_*` tensor with a size-1 dim that the converter's squeeze loses for good: C = 1 (every
   * token-shift mix squeezes to no dims at all), head size 1 for the (H,N) tensors of 5.2/6, and
   * rank 1 for v6's LoRA matrices (no longer matrices to transpose). v7 has no `.time_*` tensors.
   */
  const squeezable = (s: RandomModelSpec) => {
    const C = s.nHead * s.headSize;
    switch (s.version) {
      case '4':
      case '5.0':
      case '5.1':
        return C === 1;
      case '5.2':
        return C === 1 || s.headSize === 1;
      case '6':
        return C === 1 || s.headSize === 1 || s.ranks.maa === 1 || s.ranks.decay === 1;
      default:
        return false;
    }
  };

  it('are written unless a squeeze would lose a dim; read back to the same tensors and logits', async () => {
    await fc.assert(
      fc.asyncProperty(modelSpec(), async (spec) => {
        const ck = randomCheckpoint(spec);
        const why = rwkvCppWriter.cannot(ck);
        expect(why !== undefined, `refused: ${why}`).toBe(squeezable(spec));
        if (why !== undefined) return;
        for (const dtype of ['F32', 'F16'] as const) {
          const bin = writeBin(ck, { dtype });
          const back = parseRwkvCppBin(bin, 'random.bin');
          if (dtype === 'F32') {
            expectSameTensors(`v${spec.version}`, ck, back);
            const tokens = [0, spec.nVocab - 1, 1 % spec.nVocab];
            const r = compareClose(
              `v${spec.version} logits`,
              await logitsOf(back, tokens),
              await logitsOf(ck, tokens),
              SELF_ATOL,
              SELF_ATOL,
            );
            expect(r.ok, r.message).toBe(true);
          } else {
            // FP16 file: the matrices are fp16-rounded, the rest as in the FP32 file
            for (const [k, t] of back) {
              expect(t.shape, k).toEqual(ck.get(k)!.shape);
              if (t.storedAs === 'F16') {
                const [a, b] = [ck.get(k)!.data, t.data];
                for (let i = 0; i < a.length; i++)
                  expect(Math.abs(a[i]! - b[i]!), k).toBeLessThanOrEqual(Math.abs(a[i]!) * 2 ** -11 + 2 ** -25);
              }
            }
          }
        }
      }),
      { numRuns: 40 },
    );
  });
});

// ---- 3. the converter's rules, one by one ----

const t = (shape: number[], storedAs: StoredDType = 'F32', data?: number[]): HostTensor =>
  makeTensor(shape, Float32Array.from(data ?? Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i)), storedAs);

/** Records of a written file: key → {shape, dtype}, in file order. */
const layout = (bin: Uint8Array) => readRwkvCppFile(bin).records.map((r) => [r.key, r.shape, r.storedAs]);

describe('rwkv.cpp writer: the converter rules', () => {
  const C = 4;
  const v7Base = (): Checkpoint =>
    new Map<string, HostTensor>([
      ['emb.weight', t([3, C], 'F16')],
      ['blocks.0.ln1.weight', t([C])],
      ['blocks.0.att.x_g', t([1, 1, C])], // out of the usual order on purpose
      ['blocks.0.att.x_r', t([1, 1, C])],
      ['blocks.0.att.x_w', t([1, 1, C])],
      ['blocks.0.att.x_k', t([1, 1, C])],
      ['blocks.0.att.x_v', t([1, 1, C])],
      ['blocks.0.att.x_a', t([1, 1, C])],
      ['blocks.0.att.w1', t([C, 2], 'F16')],
      ['blocks.0.att.w0', t([1, 1, C])],
      ['blocks.0.att.k_k', t([1, 1, C])],
      ['blocks.0.att.r_k', t([1, C])],
      ['blocks.0.att.key.weight', t([C, C], 'F16')],
      ['blocks.0.ffn.x_k', t([1, 1, C])],
    ]);

  it('v7: x_* concatenated (r, w, k, v, a, g) where the first stood; LoRA transposed; the FP16 rule', () => {
    const ck = v7Base();
    const bin = writeBin(ck); // every matrix F16 → FP16 file
    expect(readRwkvCppFile(bin).header.dataType).toBe(1);
    expect(layout(bin)).toEqual([
      ['emb.weight', [3, C], 'F16'],
      ['blocks.0.ln1.weight', [C], 'F32'],
      ['blocks.0.att.x_rwkvag', [6, 1, C], 'F32'],
      ['blocks.0.att.w1', [2, C], 'F16'],
      ['blocks.0.att.w0', [1, 1, C], 'F32'],
      ['blocks.0.att.k_k', [1, 1, C], 'F32'],
      ['blocks.0.att.r_k', [1, C], 'F32'],
      ['blocks.0.att.key.weight', [C, C], 'F16'],
      ['blocks.0.ffn.x_k', [1, 1, C], 'F32'],
    ]);
    // x_rwkvag holds x_r first even though x_g came first in the checkpoint
    const distinct = new Map(ck);
    ['x_r', 'x_w', 'x_k', 'x_v', 'x_a', 'x_g'].forEach((m, i) => distinct.set(`blocks.0.att.${m}`, t([1, 1, C], 'F32', [i, i, i, i])));
    const rec = readRwkvCppFile(writeBin(distinct)).records.find((r) => r.key === 'blocks.0.att.x_rwkvag')!;
    expect([...rec.values()]).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5]);
    const w1 = readRwkvCppFile(bin).records.find((r) => r.key === 'blocks.0.att.w1')!; // (C,2) [c][d] = 2c + d → (2,C)
    expect([...w1.values()]).toEqual([0, 2, 4, 6, 1, 3, 5, 7]);
    // and back
    const back = parseRwkvCppBin(bin, 'v7.bin');
    expect([...back.keys()].sort()).toEqual([...ck.keys()].sort());
  });

  it('v5.0/5.1: per-head decay (H,1,1), or (H,1) with a gate, as the converter does; bonus (H,1,1)', () => {
    const H = 2;
    const base = new Map<string, HostTensor>([
      ['emb.weight', t([3, C])],
      ['blocks.0.ln1.weight', t([C])],
      ['blocks.0.att.time_mix_k', t([1, 1, C])],
      ['blocks.0.att.time_decay', t([H], 'F32', [-1, 0.5])],
      ['blocks.0.att.time_first', t([H], 'F32', [-2, 0.25])],
      ['blocks.0.att.ln_x.weight', t([C])],
    ]);
    const shapes = (ck: Checkpoint) => Object.fromEntries(readRwkvCppFile(writeBin(ck)).records.map((r) => [r.key, r.shape]));
    expect(shapes(base)).toMatchObject({
      'blocks.0.att.time_decay': [H, 1, 1],
      'blocks.0.att.time_first': [H, 1, 1],
      'blocks.0.att.time_mix_k': [C],
    });
    const gated = new Map(base).set('blocks.0.att.gate.weight', t([C, C]));
    expect(shapes(gated)).toMatchObject({ 'blocks.0.att.time_decay': [H, 1], 'blocks.0.att.time_first': [H, 1, 1] });
    const rec = readRwkvCppFile(writeBin(base)).records.find((r) => r.key === 'blocks.0.att.time_decay')!;
    expect([...rec.values()]).toEqual([-1, 0.5].map((w) => Math.fround(Math.exp(-Math.fround(Math.exp(w))))));
  });

  it('v6: time_decay (H,N,1) with H from block 0 time_faaaa; LoRA transposes; time_maa_w2 (5,C,D)', () => {
    const [H, N, D] = [2, 2, 3];
    const ck = new Map<string, HostTensor>([
      ['emb.weight', t([3, C])],
      ['blocks.0.ln1.weight', t([C])],
      ['blocks.0.att.time_maa_x', t([1, 1, C])],
      ['blocks.0.att.time_maa_w1', t([C, 5 * D])],
      ['blocks.0.att.time_maa_w2', t([5, D, C])],
      ['blocks.0.att.time_decay', t([1, 1, C])],
      ['blocks.0.att.time_decay_w1', t([C, D])],
      ['blocks.0.att.time_decay_w2', t([D, C])],
      ['blocks.0.att.time_faaaa', t([H, N])],
      ['blocks.0.att.time_state', t([H, N, N])],
    ]);
    expect(Object.fromEntries(layout(writeBin(ck)).map(([k, s]) => [k, s]))).toMatchObject({
      'blocks.0.att.time_maa_x': [C],
      'blocks.0.att.time_maa_w1': [5 * D, C],
      'blocks.0.att.time_maa_w2': [5, C, D],
      'blocks.0.att.time_decay': [H, N, 1],
      'blocks.0.att.time_decay_w1': [D, C],
      'blocks.0.att.time_decay_w2': [C, D],
      'blocks.0.att.time_faaaa': [H, N, 1],
      'blocks.0.att.time_state': [H, N, N],
    });
    const back = parseRwkvCppBin(writeBin(ck), 'v6.bin');
    for (const [k, want] of ck) {
      expect(back.get(k)!.shape, k).toEqual(want.shape);
      expect([...back.get(k)!.data], k).toEqual([...want.data]);
    }
  });

  it('dtype: BF16 refused, F32/F16 honoured, default FP16 only when every FP16-able tensor is F16', () => {
    const ck = v7Base();
    expect(() => writeBin(ck, { dtype: 'BF16' })).toThrow(/bfloat16/);
    try {
      writeBin(ck, { dtype: 'BF16' });
    } catch (e) {
      expect((e as RwkvError).code).toBe('UNSUPPORTED_DTYPE');
    }
    expect(readRwkvCppFile(writeBin(ck, { dtype: 'F32' })).header.dataType).toBe(0);
    expect(readRwkvCppFile(writeBin(ck, { dtype: 'F16' })).header.dataType).toBe(1);
    const oneF32 = new Map(ck).set('blocks.0.att.key.weight', t([C, C], 'F32'));
    expect(readRwkvCppFile(writeBin(oneF32)).header.dataType).toBe(0);
    const bf16 = new Map(ck).set('blocks.0.att.key.weight', t([C, C], 'BF16'));
    expect(readRwkvCppFile(writeBin(bf16)).header.dataType).toBe(0);
    // an F16 value stays exact in an FP16 file; FP32 → FP16 rounds to nearest
    const r = readRwkvCppFile(
      writeBin(new Map(ck).set('blocks.0.att.key.weight', t([C, C], 'F32', Array(C * C).fill(1 / 3))), { dtype: 'F16' }),
    );
    const key = r.records.find((x) => x.key === 'blocks.0.att.key.weight')!;
    expect(key.storedAs).toBe('F16');
    expect(key.values()[0]).toBe(halfToFloat(0x3555));
  });

  it('progress is reported per record', () => {
    const calls: [number, number][] = [];
    const sink = new MemorySink();
    rwkvCppWriter.write(v7Base(), sink, { onProgress: (d, n) => calls.push([d, n]) });
    expect(calls.map((c) => c[0])).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(calls.every((c) => c[1] === 9)).toBe(true);
  });

  it('refuses what rwkv.cpp cannot hold or the reader could not restore, saying why', () => {
    const ck = v7Base();
    const refused = (c: Checkpoint, why: RegExp) => {
      expect(rwkvCppWriter.cannot(c)).toMatch(why);
      let err: unknown;
      try {
        writeBin(c);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(RwkvError);
      expect((err as RwkvError).code).toBe('UNSUPPORTED_FORMAT');
      expect((err as RwkvError).message).toMatch(why);
    };
    const without = (k: string) => {
      const c = new Map(ck);
      c.delete(k);
      return c;
    };
    refused(without('emb.weight'), /emb\.weight/);
    refused(without('blocks.0.ln1.weight'), /ln1/);
    refused(without('blocks.0.att.x_g'), /x_g is missing/);
    refused(new Map(ck).set('blocks.0.att.x_q', t([1, 1, C])), /x_q/);
    refused(new Map(ck).set('blocks.0.att.x_v', t([1, C])), /x_v/);
    refused(new Map(ck).set('blocks.0.att.time_mix_k', t([1, 1, C])), /RWKV-7 layout has no \.time_/);
    refused(new Map(ck).set('blocks.0.att.w1', t([2, 2, 2])), /w1/);
    refused(new Map(ck).set('blocks.0.att.big', t([1, 2, 3, 4])), /1 to 3 dims/);
    refused(new Map([...without('blocks.0.att.k_k')].filter(([k]) => !k.includes('.att.x_'))), /match no RWKV version/);
    const v52 = new Map<string, HostTensor>([
      ['emb.weight', t([3, C])],
      ['blocks.0.ln1.weight', t([C])],
      ['blocks.0.att.ln_x.weight', t([C])],
      ['blocks.0.att.time_decay', t([C, 1])], // head size 1: the squeeze loses N, the reader would give (1, C)
      ['blocks.0.att.time_faaaa', t([C, 1])],
    ]);
    refused(v52, /time_decay.*reads back as \[1, 4\]/);
    const v4 = new Map<string, HostTensor>([
      ['emb.weight', t([3, C])],
      ['blocks.0.ln1.weight', t([C])],
      ['blocks.0.att.time_decay', t([C])],
      ['blocks.0.att.time_first', t([C])],
    ]);
    expect(rwkvCppWriter.cannot(v4)).toBeUndefined();
    refused(new Map(v4).set('blocks.0.att.time_mystery', t([1, 1, C])), /time_mystery: no rule/);
    refused(new Map(v4).set('blocks.0.att.time_mix_k', t([1, 1, 1])), /\[\]/); // squeezed to no dims at all
  });
});
