// Version detection and configuration from the weights alone, and the load-time transforms.

import { describe, expect, it } from 'vitest';
import { RwkvError } from '../../src/errors.ts';
import { detectConfig, detectVersion, VERSIONS } from '../../src/model/config.ts';
import { prepareWeights } from '../../src/model/prepare.ts';
import { loadCheckpoint } from '../../src/io/load.ts';
import { randomCheckpoint, type RandomModelSpec } from '../helpers/random-model.ts';
import { fixturePath, oracleCases } from '../helpers/fixtures.ts';

const base: Omit<RandomModelSpec, 'version'> = {
  nLayer: 2,
  nHead: 3,
  headSize: 5,
  nFfn: 11,
  nVocab: 7,
  ranks: { maa: 2, decay: 3, w: 4, a: 5, v: 6, g: 7, s: 2 },
  timeState: false,
  seed: 1,
};

describe('detectVersion / detectConfig', () => {
  it.each(VERSIONS)('RWKV-%s: version, shapes and LoRA ranks from the tensors', (version) => {
    const spec = { ...base, version, nHead: version === '4' ? 1 : 3, headSize: version === '4' ? 15 : 5, timeState: version === '6' };
    const cfg = detectConfig(randomCheckpoint(spec));
    expect(cfg.version).toBe(version);
    expect(cfg).toMatchObject({ nLayer: 2, nEmbd: 15, nFfn: 11, nVocab: 7, nHead: spec.nHead, headSize: spec.headSize });
    if (version === '6') {
      expect(cfg.lora).toEqual({ time_maa: 2, time_decay: 3 });
      expect(cfg.hasTimeState).toBe(true);
    }
    if (version.startsWith('7')) expect(cfg.lora).toMatchObject({ w: 4, a: 5, v: 6, g: 7 });
    if (version === '7-deepembed') expect(cfg.lora).toMatchObject({ s: 2, s_emb: 4 });
  });

  it('agrees with the official package on every fixture model', () => {
    const expected: Record<string, string> = { '4.0': '4', '5.0': '5.0', '5.1': '5.1', '5.2': '5.2', '6.0': '6', '7': '7' };
    for (const c of oracleCases()) {
      const file = c.sets.flatMap((s) => s.files).find((f) => f.endsWith('.safetensors'));
      if (file === undefined) continue;
      const path = fixturePath(file);
      if (path === undefined) continue;
      return loadCheckpoint(path).then(({ checkpoint }) => {
        const cfg = detectConfig(checkpoint);
        const want = c.model.includes('-de-') ? '7-deepembed' : expected[c.oracle.arch.model_py_detected];
        expect(cfg.version).toBe(want);
        expect(cfg.nLayer).toBe(c.oracle.arch.n_layer);
        expect(cfg.nEmbd).toBe(c.oracle.arch.n_embd);
        expect(cfg.nFfn).toBe(c.oracle.arch.n_ffn);
      });
    }
  });

  it('refuses a checkpoint that is no RWKV model, naming what it looked for', () => {
    const ck = new Map([['foo', { shape: [1], data: new Float32Array(1), storedAs: 'F32' as const }]]);
    expect(() => detectVersion(ck, 'x.safetensors')).toThrow(RwkvError);
    expect(() => detectVersion(ck, 'x.safetensors')).toThrow(/x\.safetensors.*r_k/);
  });

  it('names the tensor and both shapes when a tensor has the wrong shape', () => {
    const ck = randomCheckpoint({ ...base, version: '7' });
    ck.set('blocks.1.att.w1', { shape: [4, 15], data: new Float32Array(60), storedAs: 'F32' });
    const cfg = detectConfig(ck);
    expect(() => prepareWeights(ck, cfg, 'm.safetensors')).toThrow(/m\.safetensors: blocks\.1\.att\.w1.*expected \[15, 4\], got \[4, 15\]/);
  });

  it('names a missing tensor', () => {
    const ck = randomCheckpoint({ ...base, version: '5.2' });
    ck.delete('blocks.1.att.ln_x.bias');
    const err = (() => {
      try {
        prepareWeights(ck, detectConfig(ck), 'm.bin');
      } catch (e) {
        return e as RwkvError;
      }
      return undefined;
    })();
    expect(err?.code).toBe('MISSING_TENSOR');
    expect(err?.tensor).toBe('blocks.1.att.ln_x.bias');
  });
});

describe('prepareWeights: the load-time transforms', () => {
  const close = (a: number, b: number) => expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(b)));

  it('folds ln0 into the embedding (every row has mean ≈ bias mean after the affine map)', () => {
    const ck = randomCheckpoint({ ...base, version: '7' });
    const w = prepareWeights(ck, detectConfig(ck));
    const emb = ck.get('emb.weight')!.data;
    const g = ck.get('blocks.0.ln0.weight')!.data;
    const b = ck.get('blocks.0.ln0.bias')!.data;
    const out = w.get('emb.weight')!.data;
    const C = 15;
    for (let r = 0; r < 7; r++) {
      const row = Array.from(emb.subarray(r * C, (r + 1) * C));
      const mean = row.reduce((s, x) => s + x, 0) / C;
      const sd = Math.sqrt(row.reduce((s, x) => s + (x - mean) ** 2, 0) / C + 1e-5);
      for (let c = 0; c < C; c++) close(out[r * C + c]!, ((row[c]! - mean) / sd) * g[c]! + b[c]!);
    }
    expect(w.has('blocks.0.ln0.weight')).toBe(false);
  });

  it('v4: w = −exp(time_decay), time_mix → time_maa = 1 − time_mix', () => {
    const ck = randomCheckpoint({ ...base, version: '4', nHead: 1, headSize: 15 });
    const w = prepareWeights(ck, detectConfig(ck));
    const td = ck.get('blocks.1.att.time_decay')!.data;
    const mix = ck.get('blocks.1.att.time_mix_k')!.data;
    for (let c = 0; c < 15; c++) {
      close(w.get('blocks.1.att.time_decay')!.data[c]!, -Math.exp(td[c]!));
      close(w.get('blocks.1.att.time_maa_k')!.data[c]!, 1 - mix[c]!);
    }
  });

  it('v5.0/5.1: per-head w = exp(−exp(td)) and u = exp(time_first) repeated over each head', () => {
    const ck = randomCheckpoint({ ...base, version: '5.1' });
    const w = prepareWeights(ck, detectConfig(ck));
    const td = ck.get('blocks.0.att.time_decay')!.data;
    const tf = ck.get('blocks.0.att.time_first')!.data;
    for (let c = 0; c < 15; c++) {
      const h = Math.floor(c / 5);
      close(w.get('blocks.0.att.time_decay')!.data[c]!, Math.exp(-Math.exp(td[h]!)));
      close(w.get('blocks.0.att.time_faaaa')!.data[c]!, Math.exp(tf[h]!));
    }
  });

  it('v6: packed time_maa_w1/w2 split per target and transposed; time_state [h,v,k] → [h,k,v]', () => {
    const ck = randomCheckpoint({ ...base, version: '6', timeState: true });
    const w = prepareWeights(ck, detectConfig(ck));
    const D = 2;
    const C = 15;
    const w1 = ck.get('blocks.0.att.time_maa_w1')!.data; // [C, 5D]
    const w2 = ck.get('blocks.0.att.time_maa_w2')!.data; // [5, D, C]
    ['w', 'k', 'v', 'r', 'g'].forEach((m, j) => {
      const a = w.get(`blocks.0.att.time_maa_w1.${m}`)!; // [D, C]
      const b = w.get(`blocks.0.att.time_maa_w2.${m}`)!; // [C, D]
      expect(a.shape).toEqual([D, C]);
      expect(b.shape).toEqual([C, D]);
      for (let c = 0; c < C; c++) {
        for (let d = 0; d < D; d++) {
          expect(a.data[d * C + c]).toBe(w1[c * 5 * D + j * D + d]);
          expect(b.data[c * D + d]).toBe(w2[j * D * C + d * C + c]);
        }
      }
    });
    const ts = ck.get('blocks.1.att.time_state')!.data;
    const out = w.get('blocks.1.att.time_state')!.data;
    const N = 5;
    for (let h = 0; h < 3; h++)
      for (let i = 0; i < N; i++)
        for (let j = 0; j < N; j++) {
          expect(out[h * N * N + i * N + j]).toBe(ts[h * N * N + j * N + i]);
        }
  });

  it('v7: LoRA factors transposed to [out, in], layer-0 value residual dropped, r_k flattened', () => {
    const ck = randomCheckpoint({ ...base, version: '7' });
    const w = prepareWeights(ck, detectConfig(ck));
    expect(w.get('blocks.1.att.w1')!.shape).toEqual([4, 15]);
    expect(w.get('blocks.1.att.w2')!.shape).toEqual([15, 4]);
    expect(w.get('blocks.1.att.v1')!.shape).toEqual([6, 15]);
    expect(w.has('blocks.0.att.v1')).toBe(false);
    expect(w.get('blocks.0.att.r_k')!.shape).toEqual([15]);
    const a1 = ck.get('blocks.1.att.a1')!.data; // [C, Da]
    expect(w.get('blocks.1.att.a1')!.data[2 * 15 + 7]).toBe(a1[7 * 5 + 2]);
  });

  it('DeepEmbed: s_emb += ln0(emb)·s_emb_xᵀ', () => {
    const ck = randomCheckpoint({ ...base, version: '7-deepembed' });
    const w = prepareWeights(ck, detectConfig(ck));
    const embLn = w.get('emb.weight')!.data; // already ln0-folded
    const sEmb = ck.get('blocks.1.ffn.s_emb.weight')!.data; // [V, 4]
    const sEmbX = ck.get('blocks.1.ffn.s_emb_x.weight')!.data; // [4, C]
    const out = w.get('blocks.1.ffn.s_emb.weight')!.data;
    for (let t = 0; t < 7; t++)
      for (let j = 0; j < 4; j++) {
        let s = sEmb[t * 4 + j]!;
        for (let c = 0; c < 15; c++) s += embLn[t * 15 + c]! * sEmbX[j * 15 + c]!;
        close(out[t * 4 + j]!, s);
      }
  });
});
