// LoRA merge at load (src/model/lora.ts): W' = W + (alpha / r)·B·A, A [r, in], B [out, r].
//  - hand-computed merges of small matrices;
//  - a random LoRA merged into a random model of every version gives the logits of a model built
//    from weights merged here with plain loops; alpha = 0 gives the base model's logits exactly;
//  - full tensors in the LoRA file replace the base ones; the merge is lazy;
//  - incomplete pairs, shapes that do not fit, unknown base tensors are refused by name.

import { describe, expect, it } from 'vitest';
import { RwkvError, type RwkvErrorCode } from '../../src/errors.ts';
import { RwkvModel } from '../../src/index.ts';
import { type Checkpoint, type HostTensor, lazyTensor, makeTensor } from '../../src/tensor/tensor.ts';
import { VERSIONS } from '../../src/model/config.ts';
import { mergeLora } from '../../src/model/lora.ts';
import { type RandomModelSpec, randomCheckpoint, rng } from '../helpers/random-model.ts';
import { SELF_ATOL, SELF_RTOL, expectClose } from '../helpers/tolerance.ts';

const t = (shape: number[], values: number[]): HostTensor => makeTensor(shape, new Float32Array(values));

function caught(fn: () => unknown, code: RwkvErrorCode): RwkvError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof RwkvError)) throw e;
    expect(e.code).toBe(code);
    return e;
  }
  throw new Error(`expected an RwkvError ${code}`);
}

describe('hand-computed merges', () => {
  it('rank 1: W + (alpha / 1)·B·A', () => {
    const base: Checkpoint = new Map([['blocks.0.att.key.weight', t([2, 3], [1, 2, 3, 4, 5, 6])]]);
    const lora: Checkpoint = new Map([
      ['blocks.0.att.key.lora_A', t([1, 3], [1, 0, -1])],
      ['blocks.0.att.key.lora_B', t([2, 1], [2, 3])],
    ]);
    // B·A = [[2, 0, -2], [3, 0, -3]]; alpha 0.5, r 1 → scale 0.5
    const out = mergeLora(base, lora, 0.5);
    expect([...out.get('blocks.0.att.key.weight')!.data]).toEqual([2, 2, 2, 5.5, 5, 4.5]);
    expect(out.get('blocks.0.att.key.weight')!.shape).toEqual([2, 3]);
    expect([...out.keys()]).toEqual(['blocks.0.att.key.weight']);
  });

  it('rank 2, PEFT-style `.lora_A.weight` names: W + (alpha / 2)·B·A', () => {
    const base: Checkpoint = new Map([['head.weight', t([2, 2], [0, 0, 0, 0])]]);
    const lora: Checkpoint = new Map([
      ['head.lora_A.weight', t([2, 2], [1, 2, 3, 4])],
      ['head.lora_B.weight', t([2, 2], [1, 0, 1, 1])],
    ]);
    // B·A = [[1, 2], [4, 6]]; alpha 4, r 2 → scale 2
    expect([...mergeLora(base, lora, 4).get('head.weight')!.data]).toEqual([2, 4, 8, 12]);
  });

  it('a rectangular matrix: A [r, in], B [out, r]', () => {
    const W = t([3, 2], [1, 1, 1, 1, 1, 1]); // out 3, in 2
    const base: Checkpoint = new Map([['blocks.1.ffn.key.weight', W]]);
    const lora: Checkpoint = new Map([
      ['blocks.1.ffn.key.lora_A', t([1, 2], [1, 2])],
      ['blocks.1.ffn.key.lora_B', t([3, 1], [1, 2, 3])],
    ]);
    expect([...mergeLora(base, lora, 1).get('blocks.1.ffn.key.weight')!.data]).toEqual([2, 3, 3, 5, 4, 7]);
  });

  it('full tensors replace the base ones first (also squeezed like rwkv.cpp writes them), then the delta is added', () => {
    const base: Checkpoint = new Map([
      ['blocks.0.att.time_mix_k', t([1, 1, 3], [0, 0, 0])],
      ['blocks.0.ln1.weight', t([3], [1, 1, 1])],
      ['blocks.0.att.key.weight', t([1, 1], [5])],
      ['emb.weight', t([1, 1], [9])],
    ]);
    const lora: Checkpoint = new Map([
      ['blocks.0.att.time_mix_k', t([3], [0.1, 0.2, 0.3])],
      ['blocks.0.ln1.weight', t([3], [2, 2, 2])],
      ['blocks.0.att.key.weight', t([1, 1], [10])],
      ['blocks.0.att.key.lora_A', t([1, 1], [1])],
      ['blocks.0.att.key.lora_B', t([1, 1], [1])],
    ]);
    const out = mergeLora(base, lora, 3);
    expect(out.get('blocks.0.att.time_mix_k')!.shape).toEqual([1, 1, 3]);
    expect([...out.get('blocks.0.att.time_mix_k')!.data]).toEqual([0.1, 0.2, 0.3].map(Math.fround));
    expect([...out.get('blocks.0.ln1.weight')!.data]).toEqual([2, 2, 2]);
    expect([...out.get('blocks.0.att.key.weight')!.data]).toEqual([13]);
    // untouched tensors are the base tensors themselves
    expect(out.get('emb.weight')).toBe(base.get('emb.weight'));
  });

  it('is lazy: nothing is read until a merged tensor is', () => {
    let reads = 0;
    const W = lazyTensor([2, 2], 'F16', () => {
      reads++;
      return new Float32Array([1, 2, 3, 4]);
    });
    const base: Checkpoint = new Map([['x.weight', W]]);
    const lora: Checkpoint = new Map([
      ['x.lora_A', t([1, 2], [1, 1])],
      ['x.lora_B', t([2, 1], [1, 1])],
    ]);
    const out = mergeLora(base, lora, 1);
    expect(reads).toBe(0);
    const m = out.get('x.weight')!;
    expect(m.storedAs).toBe('F16'); // written back in the base's dtype by converters; no raw bytes
    expect(m.raw).toBeUndefined();
    expect([...m.data]).toEqual([2, 3, 4, 5]);
    expect(reads).toBe(1);
  });
});

function modelSpec(version: (typeof VERSIONS)[number]): RandomModelSpec {
  return {
    version,
    nLayer: 2,
    nHead: version === '4' ? 1 : 2,
    headSize: version === '4' ? 6 : 3,
    nFfn: 7,
    nVocab: 11,
    ranks: { maa: 1, decay: 2, w: 2, a: 2, v: 1, g: 2, s: 2 },
    timeState: false,
    seed: 21,
  };
}

/** A random LoRA on the Linear weights RWKV-LM-LoRA adapts (plus the head), rank `r`. */
function randomLora(base: Checkpoint, nLayer: number, r: number, seed: number): Checkpoint {
  const rand = rng(seed);
  const lora: Checkpoint = new Map();
  const targets = ['head'];
  for (let i = 0; i < nLayer; i++) {
    for (const m of ['att.key', 'att.value', 'att.receptance', 'att.output', 'ffn.key', 'ffn.value']) targets.push(`blocks.${i}.${m}`);
  }
  for (const p of targets) {
    const [out, inp] = base.get(`${p}.weight`)!.shape as [number, number];
    lora.set(
      `${p}.lora_A`,
      makeTensor(
        [r, inp],
        Float32Array.from({ length: r * inp }, () => rand() - 0.5),
      ),
    );
    lora.set(
      `${p}.lora_B`,
      makeTensor(
        [out, r],
        Float32Array.from({ length: out * r }, () => rand() - 0.5),
      ),
    );
  }
  return lora;
}

/** The merge written out plainly: every element Σ_k B[o][k]·A[k][i] in float64. */
function explicitlyMerged(base: Checkpoint, lora: Checkpoint, alpha: number): Checkpoint {
  const out: Checkpoint = new Map(base);
  for (const [key, A] of lora) {
    if (!key.endsWith('.lora_A')) continue;
    const p = key.slice(0, -'.lora_A'.length);
    const B = lora.get(`${p}.lora_B`)!;
    const W = base.get(`${p}.weight`)!;
    const [rows, cols] = W.shape as [number, number];
    const r = A.shape[0]!;
    const merged = new Float32Array(rows * cols);
    for (let o = 0; o < rows; o++) {
      for (let i = 0; i < cols; i++) {
        let s = 0;
        for (let k = 0; k < r; k++) s += B.data[o * r + k]! * A.data[k * cols + i]!;
        merged[o * cols + i] = W.data[o * cols + i]! + (alpha / r) * s;
      }
    }
    out.set(`${p}.weight`, makeTensor(W.shape, merged));
  }
  return out;
}

describe.each(VERSIONS)('RWKV-%s: merged at load', (version) => {
  const spec = modelSpec(version);
  const tokens = [1, 7, 3, 3, 10];

  it('a random LoRA gives the logits of a model built from explicitly merged weights', async () => {
    const base = randomCheckpoint(spec);
    const lora = randomLora(base, spec.nLayer, 3, 99);
    const alpha = 8;
    const merged = RwkvModel.fromCheckpoint(mergeLora(base, lora, alpha, 'l.safetensors'), { backend: 'ts' });
    const explicit = RwkvModel.fromCheckpoint(explicitlyMerged(base, lora, alpha), { backend: 'ts' });
    const plain = RwkvModel.fromCheckpoint(base, { backend: 'ts' });
    const a = (await merged.forward(tokens, undefined, { allLogits: true })).logits as Float32Array[];
    const b = (await explicit.forward(tokens, undefined, { allLogits: true })).logits as Float32Array[];
    const c = (await plain.forward(tokens)).logits as Float32Array;
    a.forEach((row, i) => expectClose(`logits[${i}]`, row, b[i]!, SELF_ATOL, SELF_RTOL));
    // the LoRA matters (so the comparison above can fail)
    expect(a.at(-1)!.some((x, i) => Math.abs(x - c[i]!) > 1e-2)).toBe(true);
  });

  it('alpha = 0 leaves the model unchanged', async () => {
    const base = randomCheckpoint(spec);
    const lora = randomLora(base, spec.nLayer, 2, 5);
    const merged = RwkvModel.fromCheckpoint(mergeLora(base, lora, 0), { backend: 'ts' });
    const plain = RwkvModel.fromCheckpoint(base, { backend: 'ts' });
    expectClose('alpha 0', (await merged.forward(tokens)).logits as Float32Array, (await plain.forward(tokens)).logits as Float32Array, 0);
  });
});

describe('refusals', () => {
  const base = (): Checkpoint =>
    new Map([
      ['blocks.0.att.key.weight', t([2, 3], [1, 2, 3, 4, 5, 6])],
      ['blocks.0.att.time_mix_k', t([1, 1, 3], [0, 0, 0])],
    ]);
  const A = t([1, 3], [1, 1, 1]);
  const B = t([2, 1], [1, 1]);

  it('a pair without its partner, naming the missing tensor', () => {
    let e = caught(() => mergeLora(base(), new Map([['blocks.0.att.key.lora_A', A]]), 1, 'l.st'), 'MISSING_TENSOR');
    expect(e.tensor).toBe('blocks.0.att.key.lora_B');
    expect(e.file).toBe('l.st');
    e = caught(() => mergeLora(base(), new Map([['blocks.0.att.key.lora_B', B]]), 1), 'MISSING_TENSOR');
    expect(e.tensor).toBe('blocks.0.att.key.lora_A');
  });

  it('shapes that do not fit the base tensor, naming it and the shapes', () => {
    const cases: [HostTensor, HostTensor][] = [
      [t([1, 2], [1, 1]), B], // A's in ≠ W's in
      [A, t([3, 1], [1, 1, 1])], // B's out ≠ W's out
      [t([2, 3], [1, 1, 1, 1, 1, 1]), B], // ranks differ (A r = 2, B r = 1)
      [t([3], [1, 1, 1]), B], // A not a matrix
    ];
    for (const [a, b] of cases) {
      const e = caught(
        () =>
          mergeLora(
            base(),
            new Map([
              ['blocks.0.att.key.lora_A', a],
              ['blocks.0.att.key.lora_B', b],
            ]),
            1,
          ),
        'SHAPE_MISMATCH',
      );
      expect(e.tensor).toBe('blocks.0.att.key.weight');
      expect(e.expected).toBe('lora_A [r, 3] and lora_B [2, r] for [2, 3]');
      expect(e.actual).toContain(`lora_A [${a.shape.join(', ')}]`);
    }
    // a LoRA on a tensor that is not a matrix
    const e = caught(
      () =>
        mergeLora(
          base(),
          new Map([
            ['blocks.0.att.time_mix_k.lora_A', A],
            ['blocks.0.att.time_mix_k.lora_B', B],
          ]),
          1,
        ),
      'SHAPE_MISMATCH',
    );
    expect(e.tensor).toBe('blocks.0.att.time_mix_k');
  });

  it('an unknown base tensor (a LoRA of another model)', () => {
    let e = caught(
      () =>
        mergeLora(
          base(),
          new Map([
            ['blocks.7.att.key.lora_A', A],
            ['blocks.7.att.key.lora_B', B],
          ]),
          1,
        ),
      'MISSING_TENSOR',
    );
    expect(e.tensor).toBe('blocks.7.att.key.lora_A');
    e = caught(() => mergeLora(base(), new Map([['blocks.7.ln1.weight', t([3], [1, 1, 1])]]), 1), 'MISSING_TENSOR');
    expect(e.tensor).toBe('blocks.7.ln1.weight');
  });

  it('a replacement of another shape, LoRA kinds it does not know, a bad alpha', () => {
    const e = caught(() => mergeLora(base(), new Map([['blocks.0.att.time_mix_k', t([1, 1, 4], [0, 0, 0, 0])]]), 1), 'SHAPE_MISMATCH');
    expect(e.expected).toBe('[1, 1, 3]');
    expect(e.actual).toBe('[1, 1, 4]');
    caught(() => mergeLora(base(), new Map([['blocks.0.att.key.lora_M', A]]), 1), 'UNSUPPORTED_FORMAT');
    caught(() => mergeLora(base(), new Map([['blocks.0.att.key.lora.0', A]]), 1), 'UNSUPPORTED_FORMAT');
    for (const alpha of [NaN, Infinity]) caught(() => mergeLora(base(), new Map(), alpha), 'INVALID_ARGUMENT');
  });
});
