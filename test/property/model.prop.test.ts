// Properties of src/ on random small models of every version:
//  GPT mode ≡ RNN mode ≡ any chunking (logits at every position and the final state),
//  clone independence, state size independent of tokens seen.

import { test } from '@fast-check/vitest';
import fc from 'fast-check';
import { describe, expect } from 'vitest';
import { RwkvModel } from '../../src/index.ts';
import { VERSIONS } from '../../src/model/config.ts';
import { chunking, modelAndTokens } from '../helpers/arbitraries.ts';
import { randomCheckpoint } from '../helpers/random-model.ts';
import { SELF_ATOL, SELF_RTOL, expectClose } from '../helpers/tolerance.ts';

const RUNS = 25;

describe.each(VERSIONS)('RWKV-%s (src, ts backend)', (version) => {
  test.prop([modelAndTokens(version).chain((mt) => fc.record({ mt: fc.constant(mt), split: chunking(mt.tokens.length) }))], {
    numRuns: RUNS,
  })('GPT ≡ RNN ≡ chunked: logits at every position and final state', async ({ mt, split }) => {
    const model = RwkvModel.fromCheckpoint(randomCheckpoint(mt.spec), { backend: 'ts' });
    const { tokens } = mt;
    // GPT: one call
    const gpt = await model.forward(tokens, undefined, { allLogits: true });
    const gptRows = gpt.logits as Float32Array[];
    const gptState = await gpt.state.toArray();
    // RNN: one token per call
    const rnnState = model.createState();
    const rnnRows: Float32Array[] = [];
    for (const t of tokens) rnnRows.push((await model.forward([t], rnnState)).logits as Float32Array);
    // chunked
    const chState = model.createState();
    const chRows: Float32Array[] = [];
    let at = 0;
    for (const len of split) {
      chRows.push(...((await model.forward(tokens.slice(at, at + len), chState, { allLogits: true })).logits as Float32Array[]));
      at += len;
    }
    expect(gptRows.length).toBe(tokens.length);
    for (let t = 0; t < tokens.length; t++) {
      expectClose(`rnn[${t}]`, rnnRows[t]!, gptRows[t]!, SELF_ATOL, SELF_RTOL);
      expectClose(`chunk[${t}]`, chRows[t]!, gptRows[t]!, SELF_ATOL, SELF_RTOL);
    }
    expectClose('rnn state', await rnnState.toArray(), gptState, SELF_ATOL, SELF_RTOL);
    expectClose('chunked state', await chState.toArray(), gptState, SELF_ATOL, SELF_RTOL);
    // last-token logits (default) are the last row of allLogits
    const last = (await model.forward(tokens)).logits as Float32Array;
    expectClose('last row', last, gptRows.at(-1)!, 0);
  });

  test.prop([modelAndTokens(version), modelAndTokens(version).map((m) => m.tokens)], { numRuns: RUNS })(
    'clone independence and a state size independent of the tokens seen',
    async ({ spec, tokens }, more) => {
      const model = RwkvModel.fromCheckpoint(randomCheckpoint(spec), { backend: 'ts' });
      const more2 = more.map((t) => t % spec.nVocab);
      const state = (await model.forward(tokens)).state;
      const before = await state.toArray();
      const copy = state.clone();
      // advancing the original leaves the clone as it was ...
      await model.forward(more2, state);
      expectClose('clone untouched', await copy.toArray(), before, 0);
      // ... and the clone continues exactly like the original did
      const a = (await model.forward(more2, copy)).logits as Float32Array;
      const replay = (await model.forward(tokens)).state;
      const b = (await model.forward(more2, replay)).logits as Float32Array;
      expectClose('clone continues like the original', a, b, 0);
      expect(copy.size).toBe(model.createState().size);
      expect(before.length).toBe(model.createState().size);
    },
  );
});
