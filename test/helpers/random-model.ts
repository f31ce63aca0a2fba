// Seeded random RWKV checkpoints of every version, in the original checkpoint layout, for
// property tests: odd widths, several heads, any LoRA ranks. Not trained; scaled so that
// activations stay O(1) and every tensor matters.

import type { Checkpoint, HostTensor } from '../../src/tensor/tensor.ts';
import type { RwkvVersion } from '../../src/model/config.ts';
import { createRng } from '../../src/generate/rng.ts';

export interface RandomModelSpec {
  version: RwkvVersion;
  nLayer: number;
  nHead: number; // v4: 1
  headSize: number; // C = nHead·headSize
  nFfn: number;
  nVocab: number;
  /** LoRA ranks: v6 maa/decay, v7 w/a/v/g, DeepEmbed s (s_emb width = s²). */
  ranks: { maa: number; decay: number; w: number; a: number; v: number; g: number; s: number };
  /** v6 only: add blocks.N.att.time_state. */
  timeState: boolean;
  seed: number;
}

/**
 * Seeded uniform numbers in [0, 1), 32 random bits each, from the library's PCG32
 * (src/generate/rng.ts): the one seeded generator of the tests, the benches and the sampler, exact
 * in every runtime. Any integer seed (fast-check's fc.integer() gives negative ones: those count
 * mod 2^32).
 */
export function rng(seed: number): () => number {
  const r = createRng(Number.isSafeInteger(seed) && seed >= 0 ? seed : seed >>> 0);
  return () => r.nextUint32() / 4294967296;
}

/** rng(seed) scaled: uniform numbers in [lo, hi). */
export function uniform(seed: number): (lo: number, hi: number) => number {
  const next = rng(seed);
  return (lo, hi) => lo + (hi - lo) * next();
}

export function randomCheckpoint(spec: RandomModelSpec): Checkpoint {
  const rand = rng(spec.seed);
  const ck: Checkpoint = new Map();
  const C = spec.nHead * spec.headSize;
  const H = spec.nHead;
  const N = spec.headSize;
  const F = spec.nFfn;
  const V = spec.nVocab;
  const v = spec.version;
  const uni = (lo: number, hi: number) => lo + (hi - lo) * rand();
  const put = (key: string, shape: number[], f: () => number) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = f();
    ck.set(key, { shape, data, storedAs: 'F32' } satisfies HostTensor);
  };
  /** A Linear weight [out, in], uniform with std ≈ gain/√in. */
  const linear = (key: string, out: number, inp: number, gain = 1) => {
    const a = (gain * Math.sqrt(3)) / Math.sqrt(inp);
    put(key, [out, inp], () => uni(-a, a));
  };
  /** A matrix used as x @ M, [in, out]. */
  const xmat = (key: string, inp: number, out: number, gain = 1) => {
    const a = (gain * Math.sqrt(3)) / Math.sqrt(inp);
    put(key, [inp, out], () => uni(-a, a));
  };
  const vec3 = (key: string, lo: number, hi: number, n = C) => put(key, [1, 1, n], () => uni(lo, hi));
  const lnPair = (prefix: string, n = C) => {
    put(`${prefix}.weight`, [n], () => uni(0.7, 1.3));
    put(`${prefix}.bias`, [n], () => uni(-0.2, 0.2));
  };

  put('emb.weight', [V, C], () => uni(-1.5, 1.5));
  lnPair('blocks.0.ln0');
  for (let i = 0; i < spec.nLayer; i++) {
    const p = `blocks.${i}.`;
    lnPair(`${p}ln1`);
    lnPair(`${p}ln2`);
    if (v === '4' || v === '5.0' || v === '5.1' || v === '5.2') {
      for (const m of ['k', 'v', 'r']) vec3(`${p}att.time_mix_${m}`, 0, 1);
      if (v !== '4' && v !== '5.0') {
        vec3(`${p}att.time_mix_g`, 0, 1);
        linear(`${p}att.gate.weight`, C, C);
      }
      for (const m of ['key', 'value', 'receptance', 'output']) linear(`${p}att.${m}.weight`, C, C);
      for (const m of ['k', 'r']) vec3(`${p}ffn.time_mix_${m}`, 0, 1);
      linear(`${p}ffn.key.weight`, F, C);
      linear(`${p}ffn.receptance.weight`, C, C);
      linear(`${p}ffn.value.weight`, C, F);
    }
    if (v === '4') {
      put(`${p}att.time_decay`, [C], () => uni(-2, 1));
      put(`${p}att.time_first`, [C], () => uni(-1, 1));
    } else if (v === '5.0' || v === '5.1') {
      put(`${p}att.time_decay`, [H], () => uni(-3, 0.5));
      put(`${p}att.time_first`, [H], () => uni(-2, 0.5));
    } else if (v === '5.2') {
      put(`${p}att.time_decay`, [H, N], () => uni(-3, 0.5));
      put(`${p}att.time_faaaa`, [H, N], () => uni(-1, 1));
    } else if (v === '6') {
      for (const m of ['x', 'w', 'k', 'v', 'r', 'g']) vec3(`${p}att.time_maa_${m}`, 0, 1);
      xmat(`${p}att.time_maa_w1`, C, 5 * spec.ranks.maa);
      put(`${p}att.time_maa_w2`, [5, spec.ranks.maa, C], () => uni(-0.5, 0.5));
      vec3(`${p}att.time_decay`, -3, 0.5);
      xmat(`${p}att.time_decay_w1`, C, spec.ranks.decay);
      xmat(`${p}att.time_decay_w2`, spec.ranks.decay, C, 0.5);
      put(`${p}att.time_faaaa`, [H, N], () => uni(-1, 1));
      for (const m of ['key', 'value', 'receptance', 'gate', 'output']) linear(`${p}att.${m}.weight`, C, C);
      for (const m of ['k', 'r']) vec3(`${p}ffn.time_maa_${m}`, 0, 1);
      linear(`${p}ffn.key.weight`, F, C);
      linear(`${p}ffn.receptance.weight`, C, C);
      linear(`${p}ffn.value.weight`, C, F);
      if (spec.timeState) put(`${p}att.time_state`, [H, N, N], () => uni(-2, 2));
    } else {
      for (const m of ['r', 'w', 'k', 'v', 'a', 'g']) vec3(`${p}att.x_${m}`, 0, 1);
      vec3(`${p}att.w0`, -2, 1);
      xmat(`${p}att.w1`, C, spec.ranks.w);
      xmat(`${p}att.w2`, spec.ranks.w, C);
      vec3(`${p}att.a0`, -1, 1);
      xmat(`${p}att.a1`, C, spec.ranks.a);
      xmat(`${p}att.a2`, spec.ranks.a, C);
      // layer 0 carries v0/v1/v2 too (RWKV-LM creates them); they must have no effect there
      vec3(`${p}att.v0`, -1, 1);
      xmat(`${p}att.v1`, C, spec.ranks.v);
      xmat(`${p}att.v2`, spec.ranks.v, C);
      xmat(`${p}att.g1`, C, spec.ranks.g);
      xmat(`${p}att.g2`, spec.ranks.g, C);
      vec3(`${p}att.k_k`, 0.5, 1.5);
      vec3(`${p}att.k_a`, 0, 1);
      put(`${p}att.r_k`, [H, N], () => uni(-1, 1));
      for (const m of ['key', 'value', 'receptance', 'output']) linear(`${p}att.${m}.weight`, C, C);
      vec3(`${p}ffn.x_k`, 0, 1);
      linear(`${p}ffn.key.weight`, F, C);
      linear(`${p}ffn.value.weight`, C, F);
      if (v === '7-deepembed') {
        const S = spec.ranks.s;
        put(`${p}ffn.s_emb.weight`, [V, S * S], () => uni(-0.5, 0.5));
        xmat(`${p}ffn.s_emb_x.weight`, S * S, C, 0.5);
        xmat(`${p}ffn.s1`, C, S);
        xmat(`${p}ffn.s2`, S, F, 0.5);
        vec3(`${p}ffn.s0`, 0.7, 1.3, F);
      }
    }
    if (v !== '4') lnPair(`${p}att.ln_x`);
  }
  lnPair('ln_out');
  linear('head.weight', V, C, 2);
  return ck;
}
