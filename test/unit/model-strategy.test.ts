// Per-layer backends: a model loaded with a strategy that splits its layers over several backend
// instances computes what the one-backend model computes (activations and v7's v_first cross the
// boundaries), keeps each layer's state on that layer's backend, and stores each segment's weights
// as its dtype says. Two TsBackend instances stand in for two devices.

import { describe, expect, it } from 'vitest';
import type { Backend, Tensor } from '../../src/backends/backend.ts';
import { TsBackend } from '../../src/backends/ts/ts-backend.ts';
import { RwkvError } from '../../src/errors.ts';
import type { Checkpoint, HostTensor } from '../../src/tensor/tensor.ts';
import type { RwkvVersion } from '../../src/model/config.ts';
import { RwkvModel } from '../../src/model/model.ts';
import { openStrategy } from '../../src/strategy.ts';
import { type RandomModelSpec, randomCheckpoint } from '../helpers/random-model.ts';
import { SELF_ATOL, SELF_RTOL, expectClose } from '../helpers/tolerance.ts';
import { cudaAvailable } from '../../src/backends/cuda/index.ts';

/** These tests expect no GPU (CI, the development machines); they skip where CUDA works. */
const CUDA = await cudaAvailable();

function spec(version: RwkvVersion, nLayer = 3): RandomModelSpec {
  return {
    version,
    nLayer,
    nHead: version === '4' ? 1 : 2,
    headSize: version === '4' ? 12 : 6,
    nFfn: 20,
    nVocab: 23,
    ranks: { maa: 3, decay: 4, w: 5, a: 3, v: 2, g: 4, s: 2 },
    timeState: version === '6',
    seed: 77,
  };
}

const TOKENS = [3, 17, 0, 22, 9, 9, 4];

/** x rounded to the nearest bfloat16 (ties to even), as float32. */
function bf16(x: number): number {
  const u = new Uint32Array(new Float32Array([x]).buffer)[0]!;
  const r = ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) << 16;
  return new Float32Array(new Uint32Array([r >>> 0]).buffer)[0]!;
}

/** The layer index of a checkpoint key (ln_out, head: nLayer; emb, blocks.0.ln0: 0). */
function layerOf(key: string, nLayer: number): number {
  const m = /^blocks\.(\d+)\./.exec(key);
  if (m) return Number(m[1]);
  return key.startsWith('emb.') ? 0 : nLayer;
}

/** Checkpoint 2-D tensors that are matmul matrices at run time (not emb, not v7's r_k [H, N]). */
function isMatrix(key: string, t: HostTensor): boolean {
  return t.shape.length === 2 && key !== 'emb.weight' && !key.endsWith('.r_k');
}

/**
 * A TsBackend that refuses tensors it did not make (as a device backend would): proves that
 * activations and state really cross each boundary rather than being shared on the JS heap.
 */
function strict(name: string): Backend {
  const mine = new WeakSet<object>();
  const inner = new TsBackend();
  const isTensor = (a: unknown): a is Tensor => typeof a === 'object' && a !== null && 'shape' in a && 'label' in a;
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        for (const a of args) if (isTensor(a) && !mine.has(a)) throw new Error(`${name}.${String(prop)}: foreign tensor ${a.label}`);
        const r = (v as (...a: unknown[]) => unknown).apply(target, args);
        if (isTensor(r)) mine.add(r);
        return r;
      };
    },
  });
}

async function run(model: RwkvModel) {
  const gpt = await model.forward(TOKENS, undefined, { allLogits: true });
  const rnn = model.createState();
  let last: Float32Array | undefined;
  for (const t of TOKENS) last = (await model.forward([t], rnn)).logits as Float32Array;
  return {
    rows: gpt.logits as Float32Array[],
    state: await gpt.state.toArray(),
    rnnLast: last!,
    rnnState: await rnn.toArray(),
    st: gpt.state,
  };
}

describe('a model split over backends computes what the one-backend model computes', () => {
  for (const version of ['4', '5.2', '6', '7', '7-deepembed'] as RwkvVersion[]) {
    it(`RWKV-${version}: "ts fp32 *1 -> ts fp32" and a three-way split with the head alone`, async () => {
      const ckpt = randomCheckpoint(spec(version));
      const one = await run(RwkvModel.fromCheckpoint(ckpt, { backend: 'ts', weights: 'f32' }));
      for (const strategy of ['ts fp32 *1 -> ts fp32', 'ts fp32 *2 -> ts fp32 *1 -> ts fp32']) {
        const opened = await openStrategy(strategy, 3);
        const model = await RwkvModel.create(ckpt, {
          strategy: { ...opened, backends: opened.backends.map((_, i) => strict(`backend${i}`)) },
        });
        const [a, b] = [model.layerBackends[0]!, model.layerBackends[3]!];
        expect(a).not.toBe(b);
        expect(model.backend).toBe(a);
        const split = await run(model);
        // the same float32 operations in the same order: identical numbers
        split.rows.forEach((r, t) => expectClose(`${strategy} gpt[${t}]`, r, one.rows[t]!, 0));
        expectClose(`${strategy} state`, split.state, one.state, 0);
        expectClose(`${strategy} rnn`, split.rnnLast, one.rnnLast, 0);
        expectClose(`${strategy} rnn state`, split.rnnState, one.rnnState, 0);
        // each layer's state lives on that layer's backend
        expect(split.st.backends).toEqual(model.layerBackends.slice(0, 3));
      }
    });
  }

  it('a split state clones, round-trips through toArray / fromArray, and continues like the original', async () => {
    const ckpt = randomCheckpoint(spec('7'));
    const opened = await openStrategy('ts fp32 *2 -> ts fp32', 3);
    const model = await RwkvModel.create(ckpt, { strategy: { ...opened, backends: [strict('A'), strict('B')] } });
    const { state } = await model.forward(TOKENS.slice(0, 4));
    const copy = state.clone();
    expect(copy.backends).toEqual(state.backends);
    const restored = model.createState();
    restored.fromArray(await state.toArray());
    const a = (await model.forward(TOKENS.slice(4), state)).logits as Float32Array;
    const b = (await model.forward(TOKENS.slice(4), copy)).logits as Float32Array;
    const c = (await model.forward(TOKENS.slice(4), restored)).logits as Float32Array;
    expectClose('clone', b, a, 0);
    expectClose('fromArray', c, a, 0);
    state.dispose();
    model.dispose();
  });
});

describe('a split across real backends (wasm and ts)', () => {
  it('"wasm fp32 *2 -> ts fp32" and "ts fp32 *1 -> wasm fp32" agree with ts alone', async () => {
    const ckpt = randomCheckpoint(spec('7'));
    const one = await run(RwkvModel.fromCheckpoint(ckpt, { backend: 'ts', weights: 'f32' }));
    for (const strategy of ['wasm fp32 *2 -> ts fp32', 'ts fp32 *1 -> wasm fp32']) {
      let model: RwkvModel;
      try {
        model = await RwkvModel.create(ckpt, { strategy, threads: 2 });
      } catch (e) {
        if (e instanceof RwkvError && e.code === 'BACKEND_UNAVAILABLE') {
          console.warn(`SKIPPING ${strategy}: ${e.message}`);
          return;
        }
        throw e;
      }
      expect(new Set(model.layerBackends.map((b) => b.caps.name))).toEqual(new Set(['wasm', 'ts']));
      const split = await run(model);
      split.rows.forEach((r, t) => expectClose(`${strategy} gpt[${t}]`, r, one.rows[t]!, SELF_ATOL, SELF_RTOL));
      expectClose(`${strategy} rnn`, split.rnnLast, one.rnnLast, SELF_ATOL, SELF_RTOL);
      expectClose(`${strategy} state`, split.state, one.state, SELF_ATOL, SELF_RTOL);
      await model.dispose(); // stops the wasm worker threads it opened
    }
    // the backend option by name goes through the async factory too
    const byName = await RwkvModel.create(ckpt, { backend: 'wasm', weights: 'f32', threads: 1 });
    expect(byName.strategy).toBe('wasm fp32');
    expectClose('backend: wasm', (await run(byName)).rnnLast, one.rnnLast, SELF_ATOL, SELF_RTOL);
    await byName.dispose();
  });
});

describe('each segment stores its weights as its dtype says', () => {
  const nLayer = 3;
  const ckpt = randomCheckpoint(spec('7', nLayer));
  // Q: the matrices of layers ≥ 1 and the head made bf16-exact; layer 0 (and emb) left as they are
  const q: Checkpoint = new Map();
  let laterMatrixValues = 0;
  for (const [k, t] of ckpt) {
    if (isMatrix(k, t) && layerOf(k, nLayer) >= 1) {
      q.set(k, { ...t, data: Float32Array.from(t.data!, bf16) });
      laterMatrixValues += t.data!.length;
    } else {
      q.set(k, t);
    }
  }

  it('"ts fp32 *1 -> ts bf16": layer 0 float32, the rest (head included) bf16', async () => {
    const split = await RwkvModel.create(q, { strategy: 'ts fp32 *1 -> ts bf16' });
    const f32 = RwkvModel.fromCheckpoint(q, { backend: 'ts', weights: 'f32' });
    const all16 = await RwkvModel.create(q, { strategy: 'ts bf16' });
    const a = (await split.forward(TOKENS)).logits as Float32Array;
    const b = (await f32.forward(TOKENS)).logits as Float32Array;
    const c = (await all16.forward(TOKENS)).logits as Float32Array;
    // storing bf16-exact values as bf16 changes nothing beyond summation order
    expectClose('split vs float32', a, b, SELF_ATOL, SELF_RTOL);
    // while storing layer 0 in bf16 does change the result (so the split kept it float32)
    expect(c.some((x, i) => Math.abs(x - b[i]!) > 10 * (SELF_ATOL + SELF_RTOL * Math.abs(b[i]!)))).toBe(true);
    expect(split.weightBytes.bf16).toBe(2 * laterMatrixValues);
    expect(split.strategy).toBe('ts fp32 *1 -> ts bf16');
  });

  it('fp32i8 accounts the linear layers as int8 (one byte a value plus row / column offsets and scales)', async () => {
    const m = await RwkvModel.create(ckpt, { strategy: 'ts fp32i8' });
    let expected = 0;
    for (const [k, t] of ckpt) {
      const linear = isMatrix(k, t) && k.endsWith('.weight');
      if (linear) expected += t.data!.length + 8 * (t.shape[0]! + t.shape[1]!);
    }
    expect(m.weightBytes.i8).toBe(expected);
    expect(m.weightBytes.bf16 + m.weightBytes.f16).toBe(0);
  });
});

describe('options', () => {
  const ckpt = randomCheckpoint(spec('7'));

  it('backend / weights are a one-segment shorthand', () => {
    const m = RwkvModel.fromCheckpoint(ckpt, { backend: 'ts', weights: 'f32' });
    expect(m.strategy).toBe('ts fp32');
    expect(new Set(m.layerBackends).size).toBe(1);
    expect(m.layerBackends).toHaveLength(4);
  });

  it('a strategy together with backend or weights is an error', () => {
    expect(() => RwkvModel.fromCheckpoint(ckpt, { strategy: 'ts fp32', backend: 'ts' })).toThrow(/either a strategy or backend/);
    expect(() => RwkvModel.fromCheckpoint(ckpt, { strategy: 'ts fp32', weights: 'f32' })).toThrow(RwkvError);
  });

  it('fromCheckpoint opens synchronous backends itself; an opened strategy can be passed in', async () => {
    const m = RwkvModel.fromCheckpoint(ckpt, { strategy: 'ts fp32 *1 -> ts bf16' });
    expect(m.layerBackends[0]).not.toBe(m.layerBackends[1]);
    const a = new TsBackend();
    const opened = await openStrategy('ts fp32', 3);
    const m2 = RwkvModel.fromCheckpoint(ckpt, { strategy: { ...opened, backends: [a] } });
    expect(m2.layerBackends.every((b) => b === a)).toBe(true);
    const wrong = await openStrategy('ts fp32', 5);
    expect(() => RwkvModel.fromCheckpoint(ckpt, { strategy: wrong })).toThrow(/another number of layers/);
  });

  it.skipIf(CUDA.ok)('auto loads on the best CPU backend; cuda says it is unavailable', async () => {
    const m = await RwkvModel.create(ckpt, { strategy: 'auto' });
    expect(['ts', 'wasm']).toContain(m.backend.caps.name);
    await m.dispose();
    const err = await RwkvModel.create(ckpt, { strategy: 'cuda fp16 *2 -> ts fp32' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RwkvError);
    expect((err as RwkvError).code).toBe('CUDA_UNAVAILABLE'); // no GPU here (or in CI)
    await expect(RwkvModel.create(ckpt, { strategy: 'ts fp33' })).rejects.toThrow(/unknown dtype "fp33"/);
  });
});
