// The RWKV-7 reference (reference/v7, incl. DeepEmbed) against the official implementation:
// logits, states and greedy tokens computed by the `rwkv` pip package 0.8.32 (docs/fixtures.md
// "The oracle JSON files"). Both reference paths are checked: forwardSequence (GPT mode) and forwardToken (RNN
// mode), plus 7-token chunks carrying the state.
//
// Every weight file of every set (.safetensors, .pth, rwkv.cpp .bin) is loaded through src/io's
// loadCheckpoint. A format that loader cannot read (UNSUPPORTED_FORMAT) is skipped with a message
// naming the file.

import { basename } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { createModel, type State } from '../../reference/v7/model.ts';
import type { ReferenceModel } from '../../reference/common/model.ts';
import { RwkvError } from '../../src/errors.ts';
import { loadCheckpoint } from '../../src/io/load.ts';
import { fixturePath, oracleCases, type OracleCase, type OraclePrompt, type OracleResults } from '../helpers/fixtures.ts';
import { argmax, expectClose, LOGITS_ORACLE_ATOL, STATE_ORACLE_ATOL, STATE_ORACLE_RTOL } from '../helpers/tolerance.ts';

/** The RWKV-7 oracles, and what the reference must report for each. */
const V7_MODELS: Record<string, { version: '7' | '7-deepembed' }> = {
  'tiny-rwkv-7v0-834K': { version: '7' }, // 12 layers, 1 head of 64, no layer-0 v0/v1/v2
  'synthetic-rwkv7-L3-C128-H2': { version: '7' }, // 3 layers, 2 heads, layer-0 v0/v1/v2 present (unused)
  'synthetic-rwkv7-de-L2-C64-H1': { version: '7-deepembed' },
};

const CHUNK = 7; // chunk7_logits: calls on tokens[7j : 7j+7]
const GREEDY_STEPS = 32;

const cases = oracleCases().filter((c) => c.model in V7_MODELS);

// ---- max errors per model, printed at the end ----
const maxErr = new Map<string, { logits: number; state: number }>();
function record(model: string, kind: 'logits' | 'state', err: number): void {
  const m = maxErr.get(model) ?? { logits: 0, state: 0 };
  m[kind] = Math.max(m[kind], err);
  maxErr.set(model, m);
}
afterAll(() => {
  const lines = [...maxErr].map(
    ([model, e]) => `  ${model.padEnd(32)} logits max |Δ| ${e.logits.toExponential(2)}   state max |Δ| ${e.state.toExponential(2)}`,
  );
  if (lines.length > 0) console.log(`reference v7 vs official rwkv 0.8.32:\n${lines.join('\n')}`);
});

// ---- loading (once per file), skipping formats the loader cannot read yet ----
type Loaded = { model: ReferenceModel<State> } | { skip: string };
const loaded = new Map<string, Promise<Loaded>>();
function load(path: string): Promise<Loaded> {
  let p = loaded.get(path);
  if (p === undefined) {
    p = loadCheckpoint(path).then(
      (ck) => ({ model: createModel(ck.checkpoint) }),
      (e: unknown) => {
        if (e instanceof RwkvError && e.code === 'UNSUPPORTED_FORMAT') {
          const skip = `SKIPPED ${basename(path)}: src/io cannot read this format yet (${e.message})`;
          console.warn(`\n!!!!!!!! ${skip}\n`);
          return { skip };
        }
        throw e;
      },
    );
    loaded.set(path, p);
  }
  return p;
}

/** Last row of a [T][V] result. */
const lastRow = (rows: Float64Array[]) => rows[rows.length - 1]!;

for (const model of Object.keys(V7_MODELS)) {
  if (!cases.some((c) => c.model === model)) {
    test.skip(`${model}: oracle JSON missing (see the warning above)`, () => {});
  }
}

for (const c of cases) describeCase(c);

function describeCase(c: OracleCase): void {
  const expected = V7_MODELS[c.model]!;
  for (const { set, files } of c.sets) {
    for (const file of files) {
      describe(`${c.model} · set ${set} · ${basename(file)}`, () => {
        const path = fixturePath(file);
        if (path === undefined) {
          test.skip(`fixture missing: ${file}`, () => {});
          return;
        }

        async function getModel(skip: (note: string) => never): Promise<ReferenceModel<State>> {
          const l = await load(path!);
          if ('skip' in l) skip(l.skip);
          return l.model;
        }

        test('version and dimensions from the weights', async ({ skip }) => {
          const m = await getModel(skip);
          expect(m.version).toBe(expected.version);
          expect(m.nLayer).toBe(c.oracle.arch.n_layer);
          expect(m.nEmbd).toBe(c.oracle.arch.n_embd);
          expect(m.nVocab).toBe(c.oracle.arch.n_vocab);
          expect(m.flattenState(m.initialState()).length).toBe(c.oracle.state_layout.total_size);
        });

        for (const prompt of c.oracle.prompts) {
          const r = prompt.results[set];
          if (r === undefined) continue;
          describePrompt(c.model, getModel, prompt, r);
        }
      });
    }
  }
}

function describePrompt(
  model: string,
  getModel: (skip: (note: string) => never) => Promise<ReferenceModel<State>>,
  prompt: OraclePrompt,
  r: OracleResults,
): void {
  const tokens = prompt.tokens;
  const name = `${prompt.name} (${tokens.length} tokens)`;

  test(`${name}: GPT mode — last logits, final state, greedy continuation`, async ({ skip }) => {
    const m = await getModel(skip);
    const state = m.initialState();
    const rows = m.forwardSequence(state, tokens);
    expect(rows.length).toBe(tokens.length);
    record(model, 'logits', expectClose(`${name} seq_logits`, lastRow(rows), r.seq_logits, LOGITS_ORACLE_ATOL));

    if (r.final_state !== undefined) {
      record(
        model,
        'state',
        expectClose(`${name} final_state`, m.flattenState(state), r.final_state, STATE_ORACLE_ATOL, STATE_ORACLE_RTOL),
      );
    }

    // greedy: argmax of the sequence logits, then one token at a time from the sequence state
    const greedy: number[] = [argmax(lastRow(rows))];
    while (greedy.length < GREEDY_STEPS) greedy.push(argmax(m.forwardToken(state, greedy[greedy.length - 1]!)));
    expect(greedy).toEqual(r.greedy_tokens);
  });

  test(`${name}: RNN mode — logits after every token`, async ({ skip }) => {
    const m = await getModel(skip);
    const state = m.initialState();
    const steps = tokens.map((t) => m.forwardToken(state, t));
    if (r.rnn_logits !== undefined) {
      expect(r.rnn_logits.length).toBe(tokens.length);
      steps.forEach((logits, i) => {
        record(model, 'logits', expectClose(`${name} rnn_logits[${i}]`, logits, r.rnn_logits![i]!, LOGITS_ORACLE_ATOL));
      });
    } else {
      expect(r.rnn_last_logits, 'oracle has neither rnn_logits nor rnn_last_logits').toBeDefined();
      record(model, 'logits', expectClose(`${name} rnn_last_logits`, lastRow(steps), r.rnn_last_logits!, LOGITS_ORACLE_ATOL));
    }
    if (r.final_state !== undefined) {
      // the oracle's state is from the sequence call; model.py's two modes agree bit for bit
      record(
        model,
        'state',
        expectClose(`${name} RNN final state`, m.flattenState(state), r.final_state, STATE_ORACLE_ATOL, STATE_ORACLE_RTOL),
      );
    }
  });

  if (r.chunk7_logits !== undefined) {
    const chunks = r.chunk7_logits;
    test(`${name}: GPT mode in ${CHUNK}-token chunks, state carried`, async ({ skip }) => {
      const m = await getModel(skip);
      const state = m.initialState();
      expect(chunks.length).toBe(Math.ceil(tokens.length / CHUNK));
      chunks.forEach((ref, j) => {
        const rows = m.forwardSequence(state, tokens.slice(j * CHUNK, (j + 1) * CHUNK));
        record(model, 'logits', expectClose(`${name} chunk7_logits[${j}]`, lastRow(rows), ref, LOGITS_ORACLE_ATOL));
      });
    });
  }
}
