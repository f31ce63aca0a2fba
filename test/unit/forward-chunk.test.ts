// forward() on more than FORWARD_CHUNK tokens runs in pieces carrying the state: the logits (last
// token, and every token with allLogits) and the state equal RNN mode, one token per call.
import { describe, expect, it } from 'vitest';
import { FORWARD_CHUNK } from '../../src/model/model.ts';
import { RwkvModel } from '../../src/index.ts';
import { fixturePath } from '../helpers/fixtures.ts';
import { GPT_VS_RNN_ATOL, GPT_VS_RNN_RTOL, expectClose } from '../helpers/tolerance.ts';

const file = fixturePath('tiny-rwkv/tiny-rwkv-7v0-834K-FP32.bin');

describe.skipIf(file === undefined)('forward on a long input', () => {
  it(`runs in pieces of ${FORWARD_CHUNK} tokens with the same results as RNN mode`, async () => {
    const model = await RwkvModel.load(file!, { backend: 'ts' });
    const T = 2 * FORWARD_CHUNK + 45;
    const tokens = Array.from({ length: T }, (_, i) => 32 + ((i * 37) % 90));
    const gpt = model.createState();
    const all = (await model.forward(tokens, gpt, { allLogits: true })).logits as Float32Array[];
    expect(all.length).toBe(T);
    const lastOnly = (await model.forward(tokens)).logits as Float32Array;
    expect(Array.from(lastOnly)).toEqual(Array.from(all[T - 1]!));
    const rnn = model.createState();
    for (let t = 0; t < T; t++) {
      const l = (await model.forward([tokens[t]!], rnn)).logits as Float32Array;
      // across each piece boundary and at the ends
      if ([0, FORWARD_CHUNK - 1, FORWARD_CHUNK, 2 * FORWARD_CHUNK, T - 1].includes(t))
        expectClose(`logits[${t}]`, all[t]!, l, GPT_VS_RNN_ATOL);
    }
    expectClose('state', await gpt.toArray(), await rnn.toArray(), GPT_VS_RNN_ATOL, GPT_VS_RNN_RTOL);
    await model.dispose();
  });
});
