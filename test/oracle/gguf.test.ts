// GGUF against the official implementation's numbers (docs/fixtures.md "GGUF files"):
//  - gguf/tiny-rwkv7-834K-f32.gguf holds exactly the fp32 weight set of 7v0-834K, so it must
//    reproduce the fp32 oracle at the project's 1e-4: sequence logits, per-token RNN logits,
//    chunk-7 logits, final state, 32 greedy tokens;
//  - the f16 and q8_0 files are lossy copies of the same weights; their bounds (GGUF_F16_ATOL and
//    GGUF_Q8_0_ATOL in test/helpers/tolerance.ts) are measured
//    against the same fp32 oracle (not guessed) and asserted, with the greedy tokens;
//  - every v6/v7 oracle model, written by our GGUF writer and read back, reproduces its own
//    oracle numbers at 1e-4.

import { describe, expect, it } from 'vitest';
import { ggufWriter } from '../../src/convert/gguf-write.ts';
import { loadCheckpoint, parseCheckpoint } from '../../src/io/load.ts';
import { MemorySink } from '../../src/io/write.ts';
import { RwkvModel } from '../../src/index.ts';
import { type OracleResults, fixturePath, oracleCases, readOracle } from '../helpers/fixtures.ts';
import {
  GGUF_F16_ATOL,
  GGUF_Q8_0_ATOL,
  LOGITS_ORACLE_ATOL,
  STATE_ORACLE_ATOL,
  STATE_ORACLE_RTOL,
  compareClose,
  expectClose,
} from '../helpers/tolerance.ts';
import { greedyTokens } from '../helpers/greedy.ts';

interface Measured {
  maxAbs: number;
}

async function checkPrompt(model: RwkvModel, tokens: number[], r: OracleResults, label: string, atol: number, m: Measured): Promise<void> {
  const check = (what: string, actual: ArrayLike<number>, expected: ArrayLike<number>) => {
    const c = compareClose(`${label} ${what}`, actual, expected, atol);
    m.maxAbs = Math.max(m.maxAbs, c.maxAbs);
    if (!c.ok) throw new Error(c.message);
  };
  const seqState = model.createState();
  const seq = (await model.forward(tokens, seqState)).logits as Float32Array;
  check('seq_logits', seq, r.seq_logits);
  if (r.final_state && atol === LOGITS_ORACLE_ATOL) {
    expectClose(`${label} final_state`, await seqState.toArray(), r.final_state, STATE_ORACLE_ATOL, STATE_ORACLE_RTOL);
  }
  const rnnState = model.createState();
  for (let i = 0; i < tokens.length; i++) {
    const l = (await model.forward([tokens[i]!], rnnState)).logits as Float32Array;
    if (r.rnn_logits) check(`rnn_logits[${i}]`, l, r.rnn_logits[i]!);
    else if (r.rnn_last_logits && i === tokens.length - 1) check('rnn_last_logits', l, r.rnn_last_logits);
  }
  if (r.chunk7_logits) {
    const st = model.createState();
    for (let j = 0; j * 7 < tokens.length; j++) {
      check(`chunk7_logits[${j}]`, (await model.forward(tokens.slice(7 * j, 7 * j + 7), st)).logits as Float32Array, r.chunk7_logits[j]!);
    }
  }
  const greedy = await greedyTokens(model, seq, seqState, r.greedy_tokens.length);
  expect(greedy, `${label} greedy_tokens`).toEqual(r.greedy_tokens);
}

describe('oracle: the fixture GGUF files (7v0-834K) vs official rwkv 0.8.32 fp32', () => {
  const oracle = readOracle('oracle/tiny-rwkv-7v0-834K.json');
  const cases = [
    ['f32', LOGITS_ORACLE_ATOL],
    ['f16', GGUF_F16_ATOL],
    ['q8_0', GGUF_Q8_0_ATOL],
  ] as const;
  for (const [tag, atol] of cases) {
    it(`tiny-rwkv7-834K-${tag}.gguf (atol ${atol})`, async (ctx) => {
      const p = fixturePath(`gguf/tiny-rwkv7-834K-${tag}.gguf`);
      if (p === undefined || oracle === undefined) return ctx.skip();
      const model = await RwkvModel.load(p, { backend: 'ts' });
      expect(model.config.version).toBe('7');
      const m: Measured = { maxAbs: 0 };
      for (const prompt of oracle.prompts)
        await checkPrompt(model, prompt.tokens, prompt.results['fp32']!, `${tag}/${prompt.name}`, atol, m);
      // the Q8_0 file really is lossy: its blocks were dequantized, not taken for F32 values
      if (tag === 'q8_0') expect(m.maxAbs).toBeGreaterThan(5e-3);
    });
  }
});

describe('oracle: v6/v7 models written by our GGUF writer and read back', () => {
  const all = oracleCases();
  const written: string[] = [];
  for (const c of all) {
    for (const s of c.sets) {
      for (const f of s.files.filter((x) => /\.(bin|safetensors)$/.test(x))) {
        it(`${c.model} ${s.set} ${f.split('/').pop()} → GGUF`, async (ctx) => {
          const p = fixturePath(f);
          if (p === undefined) return ctx.skip();
          const src = (await loadCheckpoint(p)).checkpoint;
          for (const t of s.timeStateFiles.filter((x) => x.endsWith('.safetensors'))) {
            const tp = fixturePath(t);
            if (tp !== undefined) for (const [k, v] of (await loadCheckpoint(tp)).checkpoint) src.set(k, v);
          }
          const why = ggufWriter.cannot(src);
          if (why !== undefined) {
            // only what llama.cpp has no architecture or tensor for
            expect(why, c.model).toMatch(/RWKV-4|RWKV-5|DeepEmbed|time_state/);
            return;
          }
          written.push(c.model);
          const sink = new MemorySink();
          ggufWriter.write(src, sink, {});
          const back = parseCheckpoint(sink.bytes(), `${c.model}.gguf`);
          const model = RwkvModel.fromCheckpoint(back.checkpoint, { backend: 'ts' });
          const m: Measured = { maxAbs: 0 };
          for (const prompt of c.oracle.prompts)
            await checkPrompt(model, prompt.tokens, prompt.results[s.set]!, `${c.model}/${s.set}/${prompt.name}`, LOGITS_ORACLE_ATOL, m);
        });
      }
    }
  }
  it('wrote every v6/v7 model there is (tiny 6v0, 7v0; synthetic rwkv6, rwkv7)', () => {
    if (all.length === 0) return;
    expect([...new Set(written)].sort()).toEqual([
      'synthetic-rwkv6-L2-C128-H2',
      'synthetic-rwkv7-L3-C128-H2',
      'tiny-rwkv-6v0-1m',
      'tiny-rwkv-7v0-834K',
    ]);
  });
});
