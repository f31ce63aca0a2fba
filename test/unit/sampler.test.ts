// The sampler (rwkv pip utils.py L55-135) against hand-computed distributions, the penalty bookkeeping, stop
// strings across token boundaries, and the PCG32 generator against published / independently
// computed values.

import { describe, expect, it } from 'vitest';
import { Pcg32, type Rng, createRng } from '../../src/generate/rng.ts';
import {
  PIPELINE_DEFAULTS,
  Penalties,
  StopStrings,
  argmax,
  drawFrom,
  occurrenceWeight,
  sampleLogits,
  samplingProbs,
  softmax,
} from '../../src/generate/sampler.ts';
import { penaltiesFor } from '../../src/generate/generate.ts';
import { BytesTokenizer } from '../../src/tokenizer/bytes.ts';
import { F64_DIGITS, F64_SUM_DIGITS } from '../helpers/tolerance.ts';

/** Logits whose softmax is `p` (up to rounding). */
const logitsOf = (p: number[]) => p.map(Math.log);

function expectProbs(actual: ArrayLike<number>, expected: number[]): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(actual[i], `p[${i}]`).toBeCloseTo(expected[i]!, F64_DIGITS);
}

/** An RNG that returns the given uniforms in turn (and fails when asked for more). */
function fixedRng(...us: number[]): Rng {
  return {
    nextUint32: () => {
      throw new Error('not used');
    },
    nextFloat: () => {
      const u = us.shift();
      if (u === undefined) throw new Error('the sampler drew more random numbers than expected');
      return u;
    },
  };
}

describe('PCG32', () => {
  it('seed 42, stream 54 gives the published pcg32-demo numbers', () => {
    const r = new Pcg32(42, 54);
    const got = Array.from({ length: 6 }, () => r.nextUint32());
    expect(got).toEqual([0xa15c02b7, 0x7b47f409, 0xba1d3330, 0x83d2f293, 0xbfa4784b, 0xcbed606e]);
  });

  it('other seeds and streams match an independent (Python big-integer) implementation', () => {
    // values from a 10-line Python PCG32 with arbitrary-precision integers (the same published algorithm)
    const a = new Pcg32(42);
    expect([a.nextUint32(), a.nextUint32(), a.nextUint32(), a.nextUint32()]).toEqual([565663470, 3244226384, 2504567229, 903561869]);
    const b = new Pcg32(2 ** 40 + 5, 3); // a seed above 2^32 (both halves used)
    expect([b.nextUint32(), b.nextUint32(), b.nextUint32(), b.nextUint32()]).toEqual([2891091029, 2586391065, 956018766, 1808282565]);
    const c = new Pcg32(2n ** 64n - 1n, 2n ** 64n - 1n);
    expect([c.nextUint32(), c.nextUint32()]).toEqual([645251143, 2004461623]);
    expect(new Pcg32(7).nextUint32()).toBe(new Pcg32(7n).nextUint32());
  });

  it('nextFloat takes 27 + 26 bits of two outputs: (a·2^26 + b) / 2^53', () => {
    const r = new Pcg32(42, 54);
    expect(r.nextFloat()).toBe(((0xa15c02b7 >>> 5) * 2 ** 26 + (0x7b47f409 >>> 6)) / 2 ** 53);
  });

  it('is uniform enough: mean, range and bit balance over 20000 draws', () => {
    const r = new Pcg32(1234);
    let sum = 0;
    const ones = new Array<number>(32).fill(0);
    for (let i = 0; i < 20000; i++) {
      const f = r.nextFloat();
      expect(f >= 0 && f < 1).toBe(true);
      sum += f;
      const u = r.nextUint32();
      for (let b = 0; b < 32; b++) ones[b]! += (u >>> b) & 1;
    }
    expect(Math.abs(sum / 20000 - 0.5)).toBeLessThan(0.01); // σ of the mean ≈ 0.002
    for (const n of ones) expect(Math.abs(n / 20000 - 0.5)).toBeLessThan(0.02);
  });

  it('refuses bad seeds; unseeded generators differ', () => {
    expect(() => new Pcg32(-1)).toThrow(/seed/);
    expect(() => new Pcg32(1.5)).toThrow(/seed/);
    expect(() => new Pcg32(2n ** 64n)).toThrow(/seed/);
    const a = createRng();
    const b = createRng();
    expect([a.nextUint32(), a.nextUint32()]).not.toEqual([b.nextUint32(), b.nextUint32()]);
  });
});

describe('samplingProbs: top-p, top-k, temperature (hand-computed)', () => {
  const P = [0.5, 0.2, 0.2, 0.1];

  it('softmax of log-probabilities gives them back; defaults are PIPELINE_ARGS', () => {
    expectProbs(softmax(logitsOf(P)), P);
    expect(PIPELINE_DEFAULTS).toEqual({
      temperature: 1,
      topP: 0.85,
      topK: 0,
      alphaFrequency: 0.2,
      alphaPresence: 0.2,
      alphaDecay: 0.996,
      chunkLen: 256,
    });
  });

  it('top-p: cutoff = first sorted prob where the cumulative sum reaches top_p; ties at the cutoff survive', () => {
    // sorted .5 .2 .2 .1, cumsum .5 .7 .9 1.0
    expectProbs(samplingProbs(logitsOf(P), { topP: 0.4 }), [1, 0, 0, 0]); // cutoff .5
    expectProbs(samplingProbs(logitsOf(P), { topP: 0.65 }), [0.5 / 0.9, 0.2 / 0.9, 0.2 / 0.9, 0]); // cutoff .2: both .2 kept
    expectProbs(samplingProbs(logitsOf(P), { topP: 0.8 }), [0.5 / 0.9, 0.2 / 0.9, 0.2 / 0.9, 0]);
    expectProbs(samplingProbs(logitsOf(P), { topP: 0.95 }), P); // cutoff .1: all
    expectProbs(samplingProbs(logitsOf(P), { topP: 1 }), P);
    expectProbs(samplingProbs(logitsOf(P), { topP: 0 }), [1, 0, 0, 0]);
  });

  it('top-k keeps the k most likely; at a tie on the k-th value the lowest ids', () => {
    const Q = [0.1, 0.2, 0.5, 0.2];
    expectProbs(samplingProbs(logitsOf(Q), { topP: 1, topK: 1 }), [0, 0, 1, 0]);
    expectProbs(samplingProbs(logitsOf(Q), { topP: 1, topK: 2 }), [0, 0.2 / 0.7, 0.5 / 0.7, 0]);
    expectProbs(samplingProbs(logitsOf(Q), { topP: 1, topK: 3 }), [0, 0.2 / 0.9, 0.5 / 0.9, 0.2 / 0.9]);
    expectProbs(samplingProbs(logitsOf(Q), { topP: 1, topK: 4 }), Q);
    expectProbs(samplingProbs(logitsOf(Q), { topP: 1, topK: 0 }), Q);
    // top-p first, then top-k on what is left
    expectProbs(samplingProbs(logitsOf(Q), { topP: 0.65, topK: 2 }), [0, 0.2 / 0.7, 0.5 / 0.7, 0]);
  });

  it('temperature acts on probabilities: p^(1/T), renormalised', () => {
    // T = 0.5: p² = .25 .04 .04 .01 (sum .34)
    expectProbs(samplingProbs(logitsOf(P), { topP: 1, temperature: 0.5 }), [0.25 / 0.34, 0.04 / 0.34, 0.04 / 0.34, 0.01 / 0.34]);
    // T = 2: √p
    const s = [Math.sqrt(0.5), Math.sqrt(0.2), Math.sqrt(0.2), Math.sqrt(0.1)];
    const z = s[0]! + s[1]! + s[2]! + s[3]!;
    expectProbs(
      samplingProbs(logitsOf(P), { topP: 1, temperature: 2 }),
      s.map((x) => x / z),
    );
    // after top-p: (.5, .2, .2)² / .33
    expectProbs(samplingProbs(logitsOf(P), { topP: 0.65, temperature: 0.5 }), [0.25 / 0.33, 0.04 / 0.33, 0.04 / 0.33, 0]);
    // a tiny temperature does not underflow to all zeros (65536 flat-ish logits)
    const flat = new Float32Array(65536).map((_, i) => (i % 7) * 1e-3);
    const q = samplingProbs(flat, { topP: 1, temperature: 0.001 });
    expect(q.reduce((a, b) => a + b, 0)).toBeCloseTo(1, F64_SUM_DIGITS);
    expect(Math.max(...q)).toBeGreaterThan(0);
  });

  it('temperature 0 is greedy: the argmax, lowest id on ties, and no random number is drawn', () => {
    const logits = [1, 3, 3, 2];
    expect(argmax(logits)).toBe(1);
    expect(sampleLogits(logits, { temperature: 0 }, fixedRng())).toBe(1);
    expectProbs(samplingProbs(logits, { temperature: 0 }), [0, 1, 0, 0]);
    expect(argmax([-Infinity, -Infinity, 5])).toBe(2);
    expect(() => argmax([-Infinity, -Infinity])).toThrow(/banned/);
  });

  it('draws the first id whose cumulative probability exceeds u', () => {
    const p = [0.25, 0, 0.25, 0.5];
    expect(drawFrom(p, fixedRng(0))).toBe(0);
    expect(drawFrom(p, fixedRng(0.2499))).toBe(0);
    expect(drawFrom(p, fixedRng(0.25))).toBe(2); // id 1 has p = 0: never drawn
    expect(drawFrom(p, fixedRng(0.5))).toBe(3);
    expect(drawFrom(p, fixedRng(0.9999999))).toBe(3);
    // one uniform per draw, no more
    expect(sampleLogits(logitsOf([0.5, 0.2, 0.2, 0.1]), { topP: 1 }, fixedRng(0.6))).toBe(1);
  });

  it('sampled frequencies follow the distribution (20000 seeded draws)', () => {
    const rng = new Pcg32(99);
    const counts = [0, 0, 0, 0];
    const logits = logitsOf(P);
    for (let i = 0; i < 20000; i++) counts[sampleLogits(logits, { topP: 1 }, rng)]!++;
    counts.forEach((c, i) => expect(Math.abs(c / 20000 - P[i]!)).toBeLessThan(0.015));
  });

  it('refuses bad parameters and NaN logits', () => {
    expect(() => samplingProbs([0, 1], { temperature: -0.5 })).toThrow(/temperature/);
    expect(() => samplingProbs([0, 1], { topP: 1.5 })).toThrow(/topP/);
    expect(() => samplingProbs([0, 1], { topK: 1.5 })).toThrow(/topK/);
    expect(() => samplingProbs([0, Number.NaN], {})).toThrow(/NaN/);
    expect(() => samplingProbs([-Infinity, -Infinity], {})).toThrow(/banned/);
  });
});

describe('penalties (presence, frequency, decay, ban)', () => {
  it('occurrence weight 0 exactly for substrings of " \\t0123456789"', () => {
    for (const s of [' ', '\t', '7', '12', ' \t0', '456789', '']) expect(occurrenceWeight(s), JSON.stringify(s)).toBe(0);
    for (const s of ['21', 'a', ' a', '\n', '0 ', '\t ', '\ufffd', '１']) expect(occurrenceWeight(s), JSON.stringify(s)).toBe(1);
  });

  it('applies −(presence + occurrence·frequency), decays every count, bans with −∞', () => {
    const weight = (t: number) => (t === 2 ? 0 : 1); // token 2 stands for a digit
    const pen = new Penalties({ alphaPresence: 0.5, alphaFrequency: 0.25, alphaDecay: 0.5, tokenBan: [3] }, weight);
    const zero = [0, 0, 0, 0, 0];
    expect(Array.from(pen.apply(zero))).toEqual([0, 0, 0, -Infinity, 0]);
    pen.record(1); // occ{1: 1}
    expect(Array.from(pen.apply(zero))).toEqual([0, -0.75, 0, -Infinity, 0]);
    pen.record(1); // occ{1: 1·0.5 + 1 = 1.5}
    expect(Array.from(pen.apply(zero))).toEqual([0, -(0.5 + 1.5 * 0.25), 0, -Infinity, 0]);
    pen.record(2); // occ{1: 0.75, 2: 0 + 0} — weight 0, but present: presence penalty only
    expect(Array.from(pen.apply(zero))).toEqual([0, -(0.5 + 0.75 * 0.25), -0.5, -Infinity, 0]);
    pen.record(2); // occ{1: 0.375, 2: 0}
    expect(pen.occurrence.get(1)).toBe(0.375);
    expect(pen.occurrence.get(2)).toBe(0);
    // the input is not modified
    expect(zero).toEqual([0, 0, 0, 0, 0]);
  });

  it('weights come from the decoded token text (byte tokenizer: digits, space, tab → 0)', () => {
    const pen = penaltiesFor(new BytesTokenizer(), { alphaPresence: 1, alphaFrequency: 1, alphaDecay: 1 });
    for (const t of [0x35, 0x20, 0x09, 0x41, 0xc3]) pen.record(t); // '5', ' ', '\t', 'A', a lone UTF-8 lead byte (U+FFFD)
    expect(pen.occurrence.get(0x35)).toBe(0);
    expect(pen.occurrence.get(0x20)).toBe(0);
    expect(pen.occurrence.get(0x09)).toBe(0);
    expect(pen.occurrence.get(0x41)).toBe(1);
    expect(pen.occurrence.get(0xc3)).toBe(1);
  });

  it('with penalties a greedy choice moves away from a repeated token', () => {
    const pen = new Penalties({ alphaPresence: 0.2, alphaFrequency: 0.2, alphaDecay: 1 }, () => 1);
    const logits = [0, 1, 0.7];
    expect(argmax(pen.apply(logits))).toBe(1);
    pen.record(1); // 1 − 0.4 = 0.6 < 0.7
    expect(argmax(pen.apply(logits))).toBe(2);
  });
});

describe('stop strings', () => {
  it('hold back a possible start of a stop string across pushes, release it when it is not one', () => {
    const s = new StopStrings(['\n\n', 'User:']);
    expect(s.push('Hello\n')).toBe('Hello');
    expect(s.push('W')).toBe('\nW');
    expect(s.push(' Us')).toBe(' ');
    expect(s.push('e')).toBe('');
    expect(s.push('d it')).toBe('Used it');
    expect(s.push('\n')).toBe('');
    expect(s.stopped).toBe(false);
    expect(s.push('\nmore')).toBe('');
    expect(s.stopped).toBe(true);
    expect(s.matched).toBe('\n\n');
    expect(s.push('later')).toBe('');
    expect(s.flush()).toBe('');
  });

  it('a stop string split over several pieces ends the text before it; text before it in the same piece is released', () => {
    const s = new StopStrings(['User:']);
    expect(s.push('ok U')).toBe('ok ');
    expect(s.push('se')).toBe('');
    expect(s.push('r: hi')).toBe('');
    expect(s.stopped).toBe(true);
    const t = new StopStrings(['END']);
    expect(t.push('abcEN')).toBe('abc');
    expect(t.flush()).toBe('EN');
  });

  it('the earliest stop string wins', () => {
    const s = new StopStrings(['cd', 'b']);
    expect(s.push('abcd')).toBe('a');
    expect(s.matched).toBe('b');
  });

  it('no stop strings: everything passes; an empty stop string is refused', () => {
    const s = new StopStrings([]);
    expect(s.push('a\n\n')).toBe('a\n\n');
    expect(() => new StopStrings([''])).toThrow(/empty/);
  });
});
