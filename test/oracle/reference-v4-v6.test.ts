// The v4, v5.x and v6 reference (reference/v4, v5, v6) against the official pip package's
// numbers (docs/fixtures.md "The oracle JSON files"): every v4–v6 oracle model, every weight set, every file of
// that set this library can read, every public prompt.
//
// Per prompt (fresh state each time):
//   seq      forwardSequence(prompt): last row vs seq_logits; state vs final_state (if given);
//            then greedy decoding from that state vs greedy_tokens (exact)
//   rnn      forwardToken per token: every step vs rnn_logits, or the last vs rnn_last_logits
//   chunk7   forwardSequence on chunks of 7 tokens, state carried: last row of each vs chunk7_logits
// Logits must agree within LOGITS_ORACLE_ATOL; the state within STATE_ORACLE_ATOL·max(1, |ref|).
//
// Files: every file of every set (.safetensors, .pth, rwkv.cpp .bin) is read through src/io's
// loadCheckpoint; a format the loader cannot read (UNSUPPORTED_FORMAT) skips loudly.

import { basename } from 'node:path';
import { afterAll, describe, expect, it, type TestContext } from 'vitest';
import { createModel as createV4 } from '../../reference/v4/model.ts';
import { createModel as createV5 } from '../../reference/v5/model.ts';
import { createModel as createV6 } from '../../reference/v6/model.ts';
import type { ReferenceModel } from '../../reference/common/model.ts';
import type { RefTensor, RefWeights } from '../../reference/common/types.ts';
import { RwkvError } from '../../src/errors.ts';
import { loadCheckpoint } from '../../src/io/load.ts';
import { fixturePath, oracleCases, type OracleCase, type OraclePrompt, type OracleResults } from '../helpers/fixtures.ts';
import { argmax, expectClose, LOGITS_ORACLE_ATOL, STATE_ORACLE_ATOL } from '../helpers/tolerance.ts';

type AnyModel = ReferenceModel<unknown>;

/** model.py's version string (arch.model_py_detected) → the reference module, and the version it must report. */
const BY_DETECTED: Record<string, { create: (w: RefWeights) => AnyModel; version: string }> = {
  '4.0': { create: (w) => createV4(w) as AnyModel, version: '4' },
  '5.0': { create: (w) => createV5(w) as AnyModel, version: '5.0' },
  '5.1': { create: (w) => createV5(w) as AnyModel, version: '5.1' },
  '5.2': { create: (w) => createV5(w) as AnyModel, version: '5.2' },
  '6.0': { create: (w) => createV6(w) as AnyModel, version: '6' },
};

const GREEDY_STEPS = 32;
const CHUNK = 7;

const cases: OracleCase[] = oracleCases().filter((c) => c.oracle.arch.model_py_detected in BY_DETECTED);

// ---- loading (each file read once; a missing reader turns into a skip) ----

class SkipLoad extends Error {}

const loaded = new Map<string, Promise<RefWeights>>();

function readWeights(relative: string): Promise<RefWeights> {
  let p = loaded.get(relative);
  if (p === undefined) {
    p = (async () => {
      const path = fixturePath(relative);
      if (path === undefined) throw new SkipLoad(`fixture missing: ${relative}`);
      try {
        return (await loadCheckpoint(path)).checkpoint;
      } catch (e) {
        if (e instanceof RwkvError && e.code === 'UNSUPPORTED_FORMAT') {
          throw new SkipLoad(`${relative}: ${e.message} (the reader for this format is not in src/io yet)`);
        }
        throw e;
      }
    })();
    loaded.set(relative, p);
  }
  return p;
}

const models = new Map<string, Promise<AnyModel>>();

/** The model of one file, merged with a state-tuning file when there is one (docs/fixtures.md "The models"). */
function getModel(c: OracleCase, file: string, stateFile: string | undefined): Promise<AnyModel> {
  const key = `${file}|${stateFile ?? ''}`;
  let p = models.get(key);
  if (p === undefined) {
    p = (async () => {
      const base = await readWeights(file);
      let weights: RefWeights = base;
      if (stateFile !== undefined) {
        const extra = await readWeights(stateFile);
        const merged = new Map<string, RefTensor>(base);
        for (const [k, t] of extra) merged.set(k, t);
        weights = merged;
      }
      return BY_DETECTED[c.oracle.arch.model_py_detected]!.create(weights);
    })();
    models.set(key, p);
  }
  return p;
}

const warnedSkips = new Set<string>();

/** The model, or a loud skip of this test when its file cannot be read yet. */
async function modelOrSkip(ctx: TestContext, c: OracleCase, file: string, stateFile: string | undefined): Promise<AnyModel> {
  try {
    return await getModel(c, file, stateFile);
  } catch (e) {
    if (e instanceof SkipLoad) {
      if (!warnedSkips.has(e.message)) {
        warnedSkips.add(e.message);
        console.warn(`\n!!!!!!!! SKIPPING: ${e.message}\n`);
      }
      ctx.skip(e.message);
    }
    throw e;
  }
}

// ---- error bookkeeping, printed at the end ----

const worst = new Map<string, { logits: number; state: number }>();

function record(model: string, kind: 'logits' | 'state', err: number): void {
  const w = worst.get(model) ?? { logits: 0, state: 0 };
  w[kind] = Math.max(w[kind], err);
  worst.set(model, w);
}

afterAll(() => {
  if (worst.size === 0) return;
  const lines = [...worst].map(
    ([m, w]) => `  ${m.padEnd(32)} logits ${w.logits.toExponential(2)}   state (scaled) ${w.state.toExponential(2)}`,
  );
  console.log(`reference v4–v6 vs official numbers, max abs error per model:\n${lines.join('\n')}`);
});

function logitsClose(model: string, label: string, actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  record(model, 'logits', expectClose(label, actual, expected, LOGITS_ORACLE_ATOL));
}

/** |Δ| ≤ STATE_ORACLE_ATOL·max(1, |ref|), checked as an absolute bound on values scaled by max(1, |ref|). */
function stateClose(model: string, label: string, actual: Float64Array, expected: readonly number[]): void {
  const scale = expected.map((e) => Math.max(1, Math.abs(e)));
  const a = Array.from(actual, (x, i) => x / scale[i]!);
  const e = expected.map((x, i) => x / scale[i]!);
  record(model, 'state', expectClose(`${label} (each entry divided by max(1, |ref|))`, a, e, STATE_ORACLE_ATOL));
}

// ---- the checks ----

function checkSequence(model: string, m: AnyModel, p: OraclePrompt, r: OracleResults, label: string): void {
  const state = m.initialState();
  const out = m.forwardSequence(state, p.tokens);
  expect(out.length).toBe(p.tokens.length);
  logitsClose(model, `${label} seq_logits`, out[out.length - 1]!, r.seq_logits);
  if (r.final_state) stateClose(model, `${label} final_state`, m.flattenState(state), r.final_state);

  // greedy: argmax of the sequence logits, then feed each choice back one token at a time
  const greedy = [argmax(out[out.length - 1]!)];
  while (greedy.length < GREEDY_STEPS) greedy.push(argmax(m.forwardToken(state, greedy[greedy.length - 1]!)));
  expect(greedy, `${label} greedy_tokens`).toEqual(r.greedy_tokens);
}

function checkRnn(model: string, m: AnyModel, p: OraclePrompt, r: OracleResults, label: string): void {
  const state = m.initialState();
  let last: Float64Array | undefined;
  p.tokens.forEach((tok, t) => {
    last = m.forwardToken(state, tok);
    if (r.rnn_logits) logitsClose(model, `${label} rnn_logits[${t}]`, last, r.rnn_logits[t]!);
  });
  if (r.rnn_last_logits) logitsClose(model, `${label} rnn_last_logits`, last!, r.rnn_last_logits);
  expect(r.rnn_logits ?? r.rnn_last_logits, `${label}: oracle has no RNN logits`).toBeDefined();
}

function checkChunks(model: string, m: AnyModel, p: OraclePrompt, expected: number[][], label: string): void {
  const state = m.initialState();
  const nChunks = Math.ceil(p.tokens.length / CHUNK);
  expect(expected.length).toBe(nChunks);
  for (let j = 0; j < nChunks; j++) {
    const out = m.forwardSequence(state, p.tokens.slice(j * CHUNK, (j + 1) * CHUNK));
    logitsClose(model, `${label} chunk7_logits[${j}]`, out[out.length - 1]!, expected[j]!);
  }
}

if (cases.length === 0) {
  it.skip('no v4–v6 oracle JSON found (see the warnings above)', () => {});
}

for (const c of cases) {
  describe(c.model, () => {
    for (const { set, files, timeStateFiles } of c.sets) {
      for (const file of files) {
        const name = `${set} ${basename(file)}`;
        // a state-tuning model: the time_state file in the same format as the base file
        let stateFile: string | undefined;
        if (timeStateFiles.length > 0) {
          const ext = file.slice(file.lastIndexOf('.'));
          stateFile = timeStateFiles.find((f) => f.endsWith(ext));
          if (stateFile === undefined) {
            it.skip(`${name}: skipped, no time_state file in the ${ext} format`, () => {});
            continue;
          }
        }

        describe(name, () => {
          it('loads as the version model.py reports', async (ctx) => {
            const m = await modelOrSkip(ctx, c, file, stateFile);
            expect(m.version).toBe(BY_DETECTED[c.oracle.arch.model_py_detected]!.version);
            expect([m.nLayer, m.nEmbd, m.nVocab]).toEqual([c.oracle.arch.n_layer, c.oracle.arch.n_embd, c.oracle.arch.n_vocab]);
            expect(m.flattenState(m.initialState()).length).toBe(c.oracle.state_layout.total_size);
          });

          for (const p of c.oracle.prompts) {
            const r = p.results[set];
            if (r === undefined) continue;
            const label = `${c.model} ${name} ${p.name}`;

            it(`${p.name}: sequence mode (logits, final state, greedy tokens)`, async (ctx) => {
              checkSequence(c.model, await modelOrSkip(ctx, c, file, stateFile), p, r, label);
            });

            it(`${p.name}: RNN mode, one token per call`, async (ctx) => {
              checkRnn(c.model, await modelOrSkip(ctx, c, file, stateFile), p, r, label);
            });

            const chunks = r.chunk7_logits;
            if (chunks) {
              it(`${p.name}: chunks of ${CHUNK}, state carried`, async (ctx) => {
                checkChunks(c.model, await modelOrSkip(ctx, c, file, stateFile), p, chunks, label);
              });
            }
          }
        });
      }
    }
  });
}
