// Writes a large random RWKV-7 checkpoint (every tensor bfloat16) without holding it in memory:
// each tensor is a lazy tensor whose bytes are generated when the writer asks for them.
// Usage: tsx test/large/generate.ts OUT.(pth|safetensors) [n_layer]

import { floatToBf16 } from '../../src/tensor/float.ts';
import { type Checkpoint, lazyTensor, numel } from '../../src/tensor/tensor.ts';
import { writeFileAtomic } from '../../src/io/write.ts';
import { writerFor } from '../../src/convert/writers.ts';
import { uniform } from '../helpers/random-model.ts';

export interface LargeSpec {
  nLayer: number;
  C: number;
  H: number;
  F: number;
  V: number;
  ranks: { w: number; a: number; v: number; g: number };
}

/** Deterministic bf16 values in [lo, hi) from a seed (the tests' seeded generator). */
function bf16Bytes(n: number, seed: number, lo: number, hi: number): Uint8Array {
  const out = new Uint8Array(n * 2);
  const view = new DataView(out.buffer);
  const next = uniform(seed);
  for (let i = 0; i < n; i++) view.setUint16(i * 2, floatToBf16(next(lo, hi)), true);
  return out;
}

export function largeCheckpoint(spec: LargeSpec): Checkpoint {
  const { C, H, F, V } = spec;
  const N = C / H;
  const ck: Checkpoint = new Map();
  let seed = 1;
  const put = (key: string, shape: number[], lo: number, hi: number) => {
    const n = numel(shape);
    const mySeed = seed++ * 2654435761;
    const raw = () => bf16Bytes(n, mySeed, lo, hi);
    ck.set(
      key,
      lazyTensor(
        shape,
        'BF16',
        () => {
          const b = raw();
          const v = new DataView(b.buffer);
          const out = new Float32Array(n);
          const u = new Uint32Array(out.buffer);
          for (let i = 0; i < n; i++) u[i] = v.getUint16(i * 2, true) << 16;
          return out;
        },
        raw,
      ),
    );
  };
  const lin = (key: string, out: number, inp: number) => put(key, [out, inp], -1 / Math.sqrt(inp), 1 / Math.sqrt(inp));
  const xm = (key: string, inp: number, out: number) => put(key, [inp, out], -1 / Math.sqrt(inp), 1 / Math.sqrt(inp));
  put('emb.weight', [V, C], -1, 1);
  put('blocks.0.ln0.weight', [C], 0.9, 1.1);
  put('blocks.0.ln0.bias', [C], -0.1, 0.1);
  for (let i = 0; i < spec.nLayer; i++) {
    const p = `blocks.${i}.`;
    for (const ln of ['ln1', 'ln2', 'att.ln_x']) {
      put(`${p}${ln}.weight`, [C], 0.9, 1.1);
      put(`${p}${ln}.bias`, [C], -0.1, 0.1);
    }
    for (const m of ['r', 'w', 'k', 'v', 'a', 'g']) put(`${p}att.x_${m}`, [1, 1, C], 0, 1);
    for (const [n, r] of [
      ['w', spec.ranks.w],
      ['a', spec.ranks.a],
      ['v', spec.ranks.v],
    ] as const) {
      put(`${p}att.${n}0`, [1, 1, C], -1, 1);
      xm(`${p}att.${n}1`, C, r);
      xm(`${p}att.${n}2`, r, C);
    }
    xm(`${p}att.g1`, C, spec.ranks.g);
    xm(`${p}att.g2`, spec.ranks.g, C);
    put(`${p}att.k_k`, [1, 1, C], 0.5, 1.5);
    put(`${p}att.k_a`, [1, 1, C], 0, 1);
    put(`${p}att.r_k`, [H, N], -1, 1);
    for (const m of ['receptance', 'key', 'value', 'output']) lin(`${p}att.${m}.weight`, C, C);
    put(`${p}ffn.x_k`, [1, 1, C], 0, 1);
    lin(`${p}ffn.key.weight`, F, C);
    lin(`${p}ffn.value.weight`, C, F);
  }
  put('ln_out.weight', [C], 0.9, 1.1);
  put('ln_out.bias', [C], -0.1, 0.1);
  lin('head.weight', V, C);
  return ck;
}

/** ~2.2 GB in bf16: C 2048, 20 layers, FFN 4C, vocab 16384. */
export const LARGE_SPEC: LargeSpec = { nLayer: 20, C: 2048, H: 32, F: 8192, V: 16384, ranks: { w: 96, a: 96, v: 64, g: 256 } };

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = process.argv[2];
  if (out === undefined) throw new Error('usage: tsx test/large/generate.ts OUT.(pth|safetensors) [n_layer]');
  const spec = { ...LARGE_SPEC, ...(process.argv[3] ? { nLayer: Number(process.argv[3]) } : {}) };
  const ck = largeCheckpoint(spec);
  const writer = writerFor(out);
  writeFileAtomic(out, (sink) => writer.write(ck, sink, {}));
}
