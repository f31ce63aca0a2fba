// fast-check arbitraries for random small models and token sequences.
import fc from 'fast-check';
import { VERSIONS, type RwkvVersion } from '../../src/model/config.ts';
import type { RandomModelSpec } from './random-model.ts';

/** A random model spec of `version` (or any version): odd sizes, 1–3 heads, random LoRA ranks. */
export function modelSpec(version?: RwkvVersion): fc.Arbitrary<RandomModelSpec> {
  return fc
    .record({
      version: version !== undefined ? fc.constant(version) : fc.constantFrom(...VERSIONS),
      nLayer: fc.integer({ min: 1, max: 3 }),
      nHead: fc.integer({ min: 1, max: 3 }),
      headSize: fc.constantFrom(1, 3, 4, 5, 8),
      nFfn: fc.integer({ min: 1, max: 13 }),
      nVocab: fc.integer({ min: 2, max: 17 }),
      ranks: fc.record({
        maa: fc.integer({ min: 1, max: 4 }),
        decay: fc.integer({ min: 1, max: 5 }),
        w: fc.integer({ min: 1, max: 5 }),
        a: fc.integer({ min: 1, max: 5 }),
        v: fc.integer({ min: 1, max: 5 }),
        g: fc.integer({ min: 1, max: 5 }),
        s: fc.integer({ min: 1, max: 4 }),
      }),
      timeState: fc.boolean(),
      seed: fc.integer({ min: 0, max: 0x7fffffff }),
    })
    .map((s) => ({ ...s, nHead: s.version === '4' ? 1 : s.nHead, timeState: s.version === '6' && s.timeState }));
}

/** A model spec with 1–9 tokens valid for it. */
export function modelAndTokens(version?: RwkvVersion) {
  return modelSpec(version).chain((spec) =>
    fc.record({
      spec: fc.constant(spec),
      tokens: fc.array(fc.integer({ min: 0, max: spec.nVocab - 1 }), { minLength: 1, maxLength: 9 }),
    }),
  );
}

/** Split positions: a list of chunk lengths that sum to n. */
export function chunking(n: number): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: 1, max: n }), { minLength: 1, maxLength: n }).map((lens) => {
    const out: number[] = [];
    let left = n;
    for (const l of lens) {
      if (left === 0) break;
      const take = Math.min(l, left);
      out.push(take);
      left -= take;
    }
    if (left > 0) out.push(left);
    return out;
  });
}
