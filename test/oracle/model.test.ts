// src/ (RwkvModel on the TS backend) against the official implementation's numbers, for all 12
// fixture models, every file form we read, every public prompt: sequence logits, per-token RNN
// logits, chunk-7 logits, final state and 32 greedy tokens.

import { describe, expect, it } from 'vitest';
import { RwkvModel } from '../../src/index.ts';
import { type OracleCase, type OracleResults, fixturePath, oracleCases } from '../helpers/fixtures.ts';
import { LOGITS_ORACLE_ATOL, STATE_ORACLE_ATOL, STATE_ORACLE_RTOL, expectClose } from '../helpers/tolerance.ts';
import { greedyTokens } from '../helpers/greedy.ts';

const READABLE = /\.(safetensors|bin|pth)$/;

async function checkPrompt(model: RwkvModel, tokens: number[], r: OracleResults, label: string): Promise<void> {
  // GPT mode: one call on the whole prompt
  const seqState = model.createState();
  const seq = (await model.forward(tokens, seqState)).logits as Float32Array;
  expectClose(`${label} seq_logits`, seq, r.seq_logits, LOGITS_ORACLE_ATOL);
  if (r.final_state) {
    expectClose(`${label} final_state`, await seqState.toArray(), r.final_state, STATE_ORACLE_ATOL, STATE_ORACLE_RTOL);
  }
  // RNN mode: one token per call
  const rnnState = model.createState();
  const rnn: Float32Array[] = [];
  for (const t of tokens) rnn.push((await model.forward([t], rnnState)).logits as Float32Array);
  if (r.rnn_logits) r.rnn_logits.forEach((ref, i) => expectClose(`${label} rnn_logits[${i}]`, rnn[i]!, ref, LOGITS_ORACLE_ATOL));
  if (r.rnn_last_logits) expectClose(`${label} rnn_last_logits`, rnn.at(-1)!, r.rnn_last_logits, LOGITS_ORACLE_ATOL);
  // chunks of 7, state carried
  if (r.chunk7_logits) {
    const st = model.createState();
    for (let j = 0; j * 7 < tokens.length; j++) {
      const l = (await model.forward(tokens.slice(7 * j, 7 * j + 7), st)).logits as Float32Array;
      expectClose(`${label} chunk7_logits[${j}]`, l, r.chunk7_logits[j]!, LOGITS_ORACLE_ATOL);
    }
  }
  // greedy: argmax of the sequence logits, then one token at a time from the sequence state
  const greedy = await greedyTokens(model, seq, seqState, r.greedy_tokens.length);
  expect(greedy, `${label} greedy_tokens`).toEqual(r.greedy_tokens);
}

function filesOf(c: OracleCase) {
  const out: { set: string; file: string; extra: string[] }[] = [];
  for (const s of c.sets) {
    for (const f of s.files) {
      if (!READABLE.test(f)) continue;
      // a state-tuning file in the base file's own format when there is one (.pth with .pth), else .safetensors
      const ext = f.slice(f.lastIndexOf('.'));
      const same = s.timeStateFiles.filter((t) => t.endsWith(ext));
      out.push({ set: s.set, file: f, extra: same.length > 0 ? same : s.timeStateFiles.filter((t) => t.endsWith('.safetensors')) });
    }
  }
  return out;
}

const cases = oracleCases();

describe('oracle: src model (ts backend) vs official rwkv 0.8.32', () => {
  it('finds all 12 oracle models', () => {
    if (cases.length === 0) return; // fixtures missing: fixtures.ts already warned loudly
    expect(cases.map((c) => c.model).length).toBe(12);
  });
  for (const c of cases) {
    for (const { set, file, extra } of filesOf(c)) {
      it(`${c.model} ${set} ${file.split('/').pop()}`, async () => {
        const path = fixturePath(file);
        const extraPaths = extra.map((e) => fixturePath(e));
        if (path === undefined || extraPaths.includes(undefined)) return;
        const model = await RwkvModel.load(path, { extraFiles: extraPaths as string[], backend: 'ts' });
        for (const p of c.oracle.prompts) {
          const r = p.results[set];
          expect(r, `${c.model}: prompt ${p.name} has results for set ${set}`).toBeDefined();
          await checkPrompt(model, p.tokens, r!, `${c.model}/${set}/${p.name}`);
        }
      });
    }
  }
});
