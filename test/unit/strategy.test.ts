// Strategy strings (src/strategy.ts): the official grammar over our devices, the official layer
// allocation (model.py L684-733; expected counts worked out by hand from that code), weight
// storage per segment, opening backends, and errors that show the grammar.

import { fc, test as propTest } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../../src/backends/registry.ts';
import { TsBackend } from '../../src/backends/ts/ts-backend.ts';
import { RwkvError } from '../../src/errors.ts';
import {
  STRATEGY_DEVICES,
  STRATEGY_GRAMMAR,
  allocateLayers,
  closeStrategy,
  describePlacement,
  openDevice,
  openStrategy,
  openStrategySync,
  parseStrategy,
  placeLayers,
  weightStorage,
} from '../../src/strategy.ts';
import { cudaAvailable } from '../../src/backends/cuda/index.ts';

/** These tests expect no GPU (CI, the development machines); they skip where CUDA works. */
const CUDA = await cudaAvailable();

const counts = (s: string, nLayer: number) => allocateLayers(parseStrategy(s), nLayer).counts;

function expectInvalid(s: string, fragment: string): void {
  let err: unknown;
  try {
    parseStrategy(s);
  } catch (e) {
    err = e;
  }
  expect(err, `"${s}" should be rejected`).toBeInstanceOf(RwkvError);
  const e = err as RwkvError;
  expect(e.code).toBe('INVALID_ARGUMENT');
  expect(e.argument).toBe('strategy');
  expect(e.message).toContain(fragment);
  // every rejection shows the grammar and examples
  expect(e.message).toContain('SEGMENT := DEVICE DTYPE[i8] [*N[+]]');
  expect(e.message).toContain('"wasm bf16 *8 -> ts fp32"');
}

describe('parseStrategy', () => {
  it('reads the official README examples (rwkv pip README L183-203) with cpu / cuda devices', () => {
    expect(parseStrategy('cpu fp32').segments).toEqual([{ device: 'cpu', dtype: 'fp32', i8: false, stream: false, text: 'cpu fp32' }]);
    expect(parseStrategy('cuda fp16').segments[0]).toMatchObject({ device: 'cuda', dtype: 'fp16', i8: false });
    expect(parseStrategy('cuda fp16i8 *10 -> cpu fp32').segments).toEqual([
      { device: 'cuda', dtype: 'fp16', i8: true, layers: 10, stream: false, text: 'cuda fp16i8 *10' },
      { device: 'cpu', dtype: 'fp32', i8: false, stream: false, text: 'cpu fp32' },
    ]);
    const multi = parseStrategy('cuda:0 fp16 *10 -> cuda:1 fp16 *8 -> cpu fp32');
    expect(multi.segments.map((s) => [s.device, s.deviceIndex, s.layers])).toEqual([
      ['cuda', 0, 10],
      ['cuda', 1, 8],
      ['cpu', undefined, undefined],
    ]);
    expect(parseStrategy('cuda fp16i8 *10+').segments[0]).toMatchObject({ i8: true, layers: 10, stream: true });
    expect(parseStrategy('cuda fp16i8 *0+ -> cpu fp32 *1').segments.map((s) => [s.layers, s.stream])).toEqual([
      [0, true],
      [1, false],
    ]);
  });

  it('reads the issue examples over our backends', () => {
    expect(parseStrategy('wasm fp32').segments[0]).toMatchObject({ device: 'wasm', dtype: 'fp32', i8: false });
    expect(parseStrategy('wasm bf16').segments[0]).toMatchObject({ device: 'wasm', dtype: 'bf16', i8: false });
    expect(parseStrategy('wasm fp32i8').segments[0]).toMatchObject({ device: 'wasm', dtype: 'fp32', i8: true });
    expect(parseStrategy('ts fp32').segments[0]).toMatchObject({ device: 'ts', dtype: 'fp32' });
    expect(parseStrategy('wasm bf16 *8 -> ts fp32').segments.map((s) => s.text)).toEqual(['wasm bf16 *8', 'ts fp32']);
    expect(parseStrategy('cuda fp16 *20 -> wasm fp32i8').text).toBe('cuda fp16 *20 -> wasm fp32i8');
    expect(parseStrategy('ts bf16i8').segments[0]).toMatchObject({ dtype: 'bf16', i8: true });
  });

  it('normalises whitespace around "->" and inside segments', () => {
    expect(parseStrategy('  wasm   fp32\t*8->ts fp32  ').text).toBe('wasm fp32 *8 -> ts fp32');
    expect(parseStrategy('ts fp32->ts bf16 *1->wasm fp16').text).toBe('ts fp32 -> ts bf16 *1 -> wasm fp16');
    expect(parseStrategy(' auto ')).toEqual({ text: 'auto', auto: true, segments: [] });
  });

  it('rejects what is not the grammar, naming the part and showing the grammar', () => {
    expectInvalid('', 'empty');
    expectInvalid('wasm', 'needs a device and a dtype');
    expectInvalid('gpu fp32', 'unknown device "gpu"');
    expectInvalid('mps fp16', 'torch devices are not available');
    expectInvalid('WASM fp32', 'unknown device "WASM"');
    expectInvalid('wasm:0 fp32', 'unknown device "wasm:0"');
    expectInvalid('wasm fp64', 'unknown dtype "fp64"');
    expectInvalid('wasm fp32i4', 'i4 is not supported');
    expectInvalid('wasm int8', 'unknown dtype "int8"');
    expectInvalid('wasm fp32 8', '"8" is not a layer count');
    expectInvalid('wasm fp32 *x', '"*x" is not a layer count');
    expectInvalid('wasm fp32 *-1', 'is not a layer count');
    expectInvalid('wasm fp32 *2 extra', 'too many parts');
    expectInvalid('wasm fp32 ->', 'segment 2 is empty');
    expectInvalid('-> wasm fp32', 'segment 1 is empty');
    expectInvalid('ts fp32 -> -> ts fp32', 'segment 2 is empty');
    expectInvalid('ts fp32 *2 -> wasm', 'segment 2 ("wasm") needs a device and a dtype');
    expectInvalid('auto -> ts fp32', '"auto" is a whole strategy');
    expectInvalid('auto fp32', '"auto" is a whole strategy');
  });

  it('the grammar text is exported for help messages, its devices from the backend registry', () => {
    expect(STRATEGY_GRAMMAR).toContain('DEVICE  := ts | wasm | cuda[:K] | cpu (cpu: the best CPU backend here, wasm, else ts)');
    expect(STRATEGY_DEVICES).toEqual([...BACKENDS.map((e) => e.name), 'cpu']);
  });

  it('names every device in the unknown-device message', () => {
    expectInvalid('gpu fp32', 'expected ts, wasm, cuda, cuda:K or cpu');
  });

  const segmentArb = fc.record({
    device: fc.constantFrom('ts', 'wasm', 'cpu', 'cuda', 'cuda:1'),
    dtype: fc.constantFrom('fp32', 'bf16', 'fp16'),
    i8: fc.boolean(),
    count: fc.option(fc.tuple(fc.nat(40), fc.boolean()), { nil: undefined }),
    pad: fc.constantFrom(' ', '  ', '\t'),
  });
  propTest.prop([fc.array(segmentArb, { minLength: 1, maxLength: 5 }), fc.constantFrom('->', ' -> ', '  ->  ')])(
    'any grammatical string parses; its normal form parses to itself',
    (segs, sep) => {
      const text = segs
        .map((s) => [s.device, `${s.dtype}${s.i8 ? 'i8' : ''}`, ...(s.count ? [`*${s.count[0]}${s.count[1] ? '+' : ''}`] : [])].join(s.pad))
        .join(sep);
      const p = parseStrategy(text);
      expect(p.segments).toHaveLength(segs.length);
      expect(parseStrategy(p.text)).toEqual(p);
      p.segments.forEach((s, i) => {
        expect(s.i8).toBe(segs[i]!.i8);
        expect(s.layers).toBe(segs[i]!.count?.[0]);
      });
    },
  );
});

describe('allocateLayers (n_layer + 1 layers, the last is the head)', () => {
  it('README examples on a 24-layer model (25 layers to place)', () => {
    expect(counts('cuda fp16i8 *10 -> cpu fp32', 24)).toEqual([10, 15]);
    expect(counts('cuda:0 fp16 *10 -> cuda:1 fp16 *8 -> cpu fp32', 24)).toEqual([10, 8, 7]);
    expect(allocateLayers(parseStrategy('cuda fp16i8 *10+'), 24)).toEqual({ counts: [25], streamSegment: 0, streamCount: 15 });
    expect(allocateLayers(parseStrategy('cuda fp16i8 *0+ -> cpu fp32 *1'), 24)).toEqual({
      counts: [24, 1],
      streamSegment: 0,
      streamCount: 24,
    });
  });

  it('one segment takes everything; auto is one segment', () => {
    expect(counts('wasm fp32', 12)).toEqual([13]);
    expect(counts('auto', 12)).toEqual([13]);
    expect(counts('ts fp32', 0)).toEqual([1]);
  });

  it('free slots split the rest in order (remaining // slots left), the leftover to the last', () => {
    // 13: 13//3 = 4, 9//2 = 4, 5//1 = 5
    expect(counts('ts fp32 -> wasm fp32 -> ts bf16', 12)).toEqual([4, 4, 5]);
    // 13 − 3 = 10 over two free slots: 5, 5
    expect(counts('ts fp32 -> wasm fp32 *3 -> ts bf16', 12)).toEqual([5, 3, 5]);
    // 1 layer, two free slots: 1//2 = 0, 1//1 = 1
    expect(counts('ts fp32 -> wasm fp32', 0)).toEqual([0, 1]);
  });

  it('no free slot: the leftover goes to the last segment even when it has *N', () => {
    expect(counts('ts fp32 *2 -> wasm fp32 *3', 12)).toEqual([2, 11]);
    expect(counts('wasm bf16 *8 -> ts fp32 *1', 24)).toEqual([8, 17]);
  });

  it('reaching n_layer + 1 cuts that segment and gives every later one 0', () => {
    expect(counts('ts fp32 *10 -> wasm fp32 *10 -> ts bf16', 12)).toEqual([10, 3, 0]);
    expect(counts('ts fp32 *13 -> wasm fp32', 12)).toEqual([13, 0]);
    expect(counts('ts fp32 *99', 12)).toEqual([13]);
    // a free slot before the cut gets nothing: the total is reached by explicit counts
    expect(counts('ts fp32 -> wasm fp32 *20', 12)).toEqual([0, 13]);
  });

  it('*N+ takes every layer left over; free slots then get nothing', () => {
    expect(allocateLayers(parseStrategy('ts fp32 -> wasm fp32 *2+ -> ts bf16'), 12)).toEqual({
      counts: [0, 13, 0],
      streamSegment: 1,
      streamCount: 11,
    });
    const p = placeLayers(parseStrategy('wasm fp32 *2+ -> ts fp32 *1'), 5);
    expect(p.map((l) => `${l.segment}${l.stream ? 's' : ''}`)).toEqual(['0', '0', '0s', '0s', '0s', '1']);
  });

  it('an explicit *0 gets no layers (the official loop would treat it as a free slot)', () => {
    expect(counts('wasm fp32 *0 -> ts fp32', 12)).toEqual([0, 13]);
  });

  it('placeLayers lists the segment of every layer, head last', () => {
    expect(placeLayers(parseStrategy('ts fp32 *1 -> ts bf16'), 3).map((l) => l.segment)).toEqual([0, 1, 1, 1]);
    expect(placeLayers(parseStrategy('ts fp32 *3 -> ts bf16'), 3).map((l) => l.segment)).toEqual([0, 0, 0, 1]);
  });

  propTest.prop([
    fc.array(fc.record({ layers: fc.option(fc.nat(30), { nil: undefined }), stream: fc.boolean() }), { minLength: 1, maxLength: 6 }),
    fc.nat(64),
  ])('counts are non-negative and sum to n_layer + 1', (segs, nLayer) => {
    const text = segs.map((s) => `ts fp32${s.layers !== undefined ? ` *${s.layers}${s.stream ? '+' : ''}` : ''}`).join(' -> ');
    const { counts: c } = allocateLayers(parseStrategy(text), nLayer);
    expect(c.every((n) => Number.isInteger(n) && n >= 0)).toBe(true);
    expect(c.reduce((a, b) => a + b, 0)).toBe(nLayer + 1);
    expect(placeLayers(parseStrategy(text), nLayer)).toHaveLength(nLayer + 1);
  });
});

describe('weightStorage', () => {
  const seg = (dtype: 'fp32' | 'bf16' | 'fp16', i8: boolean) => ({ dtype, i8 });
  it('dtype sets matrix storage; vectors and embedding tables stay float32', () => {
    expect(weightStorage('blocks.3.att.key.weight', [8, 8], seg('bf16', false))).toBe('bf16');
    expect(weightStorage('blocks.3.att.key.weight', [8, 8], seg('fp16', false))).toBe('f16');
    expect(weightStorage('blocks.3.att.key.weight', [8, 8], seg('fp32', false))).toBe('f32');
    expect(weightStorage('blocks.3.att.w1', [4, 8], seg('bf16', false))).toBe('bf16');
    expect(weightStorage('blocks.3.ln1.weight', [8], seg('bf16', true))).toBe('f32');
    expect(weightStorage('emb.weight', [50, 8], seg('bf16', true))).toBe('f32');
    expect(weightStorage('blocks.0.ffn.s_emb.weight', [50, 16], seg('fp16', true))).toBe('f32');
  });
  it('i8 applies to the linear layers and the head, not to LoRA factors (they keep the prefix dtype)', () => {
    for (const k of ['blocks.0.att.receptance.weight', 'blocks.0.att.gate.weight', 'blocks.0.ffn.value.weight', 'head.weight']) {
      expect(weightStorage(k, [8, 8], seg('fp32', true))).toBe('i8');
    }
    for (const k of ['blocks.1.att.w1', 'blocks.1.att.g2', 'blocks.1.att.time_maa_w1.k', 'blocks.1.att.time_decay_w2', 'blocks.1.ffn.s1']) {
      expect(weightStorage(k, [4, 8], seg('fp32', true))).toBe('f32');
      expect(weightStorage(k, [4, 8], seg('bf16', true))).toBe('bf16');
    }
  });
});

describe('opening backends', () => {
  it('one backend instance per segment with layers, null for the empty ones', async () => {
    const o = await openStrategy('ts fp32 *1 -> ts bf16 -> ts fp16 *0', 3);
    expect(o.backends[0]).toBeInstanceOf(TsBackend);
    expect(o.backends[1]).toBeInstanceOf(TsBackend);
    expect(o.backends[0]).not.toBe(o.backends[1]);
    expect(o.backends[2]).toBeNull();
    expect(o.placement.map((p) => p.segment)).toEqual([0, 1, 1, 1]);
    const sync = openStrategySync('ts fp32 *1 -> ts bf16', 3);
    expect(sync.backends.map((b) => b?.caps.name)).toEqual(['ts', 'ts']);
  });

  it('auto and cpu open the best CPU backend available', async () => {
    const o = await openStrategy('auto', 2);
    expect(['ts', 'wasm']).toContain(o.backends[0]!.caps.name);
    await closeStrategy(o);
    const cpu = await openDevice('cpu');
    expect(['ts', 'wasm']).toContain(cpu.caps.name);
    await closeStrategy({ ...o, backends: [cpu] });
  });

  it('describePlacement: the layers of each segment, its backend, and the optional ops it leaves out', () => {
    const o = openStrategySync('ts fp32 *2 -> ts bf16 -> ts fp16 *0', 3);
    Object.defineProperty(o.backends[1]!, 'wkv5', { value: undefined }); // as a v7-only backend would
    expect(describePlacement(o)).toEqual([
      'ts fp32 *2: layers 0-1 on ts',
      'ts bf16: layers 2-3 (incl. head) on ts (without wkv5)',
      'ts fp16 *0: no layers',
    ]);
  });

  // (on a machine without a GPU, as CI: the optional CUDA backend says what is missing)
  it.skipIf(CUDA.ok)('cuda parses, and opening it says what is missing', async () => {
    const s = parseStrategy('cuda fp16 *20 -> wasm fp32i8');
    expect(allocateLayers(s, 24).counts).toEqual([20, 5]);
    const err = await openStrategy(s, 24).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RwkvError);
    expect((err as RwkvError).code).toBe('CUDA_UNAVAILABLE');
    expect((err as RwkvError).message).toMatch(/libcuda|koffi/);
    // a segment that gets no layers is never opened
    await expect(openStrategy('ts fp32 *99 -> cuda fp16', 2)).resolves.toBeDefined();
  });
});
