// reference/ (plain loops, f64, no folding, separate RNN and GPT code) ≡ src/ (backend ops,
// f32, load-time transforms) on random small models of every version: logits at every position
// and the final state, in both reference modes.

import { test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { createReferenceModel } from '../../reference/index.ts';
import { RwkvModel } from '../../src/index.ts';
import { VERSIONS } from '../../src/model/config.ts';
import { modelAndTokens } from '../helpers/arbitraries.ts';
import { randomCheckpoint } from '../helpers/random-model.ts';
import { SELF_ATOL, SELF_RTOL, expectClose } from '../helpers/tolerance.ts';

describe.each(VERSIONS)('RWKV-%s: reference ≡ src', (version) => {
  test.prop([modelAndTokens(version)], { numRuns: 20 })('logits at every position and final state', async ({ spec, tokens }) => {
    const ckpt = randomCheckpoint(spec);
    const ref = createReferenceModel(ckpt);
    expect(ref.version).toBe(version);
    const model = RwkvModel.fromCheckpoint(ckpt, { backend: 'ts' });
    const ours = await model.forward(tokens, undefined, { allLogits: true });
    const rows = ours.logits as Float32Array[];
    const ourState = await ours.state.toArray();

    // reference GPT path
    const seqState = ref.initialState();
    const seq = ref.forwardSequence(seqState, tokens);
    // reference RNN path
    const tokState = ref.initialState();
    const tok = tokens.map((t) => ref.forwardToken(tokState, t));
    for (let t = 0; t < tokens.length; t++) {
      expectClose(`src vs reference seq [${t}]`, rows[t]!, seq[t]!, SELF_ATOL, SELF_RTOL);
      expectClose(`src vs reference rnn [${t}]`, rows[t]!, tok[t]!, SELF_ATOL, SELF_RTOL);
    }
    expectClose('state vs reference seq', ourState, ref.flattenState(seqState), SELF_ATOL, SELF_RTOL);
    expectClose('state vs reference rnn', ourState, ref.flattenState(tokState), SELF_ATOL, SELF_RTOL);
  });
});
