// Every fixture model on the WASM backend (fp32 weights) against the TS backend: sequence
// logits, per-token (RNN) logits and the final state within WASM_VS_TS_ATOL, and the greedy
// tokens of the official implementation unchanged.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RwkvModel } from '../../src/index.ts';
import { WasmBackend } from '../../src/backends/wasm/wasm-backend.ts';
import { type OracleCase, fixturePath, oracleCases } from '../helpers/fixtures.ts';
import { skipIfNoCases } from '../helpers/skip.ts';
import { WASM_VS_TS_ATOL, WASM_VS_TS_STATE_RTOL, expectClose } from '../helpers/tolerance.ts';
import { greedyTokens } from '../helpers/greedy.ts';

const READABLE = /\.(safetensors|bin|pth)$/;

/**
 * One readable file of the model's first weight set (the other sets are the same weights rounded
 * to 16 bits; the format readers have their own oracle tests). Keeps this file fast.
 */
function filesOf(c: OracleCase) {
  const out: { set: string; file: string; extra: string[] }[] = [];
  for (const s of c.sets.slice(0, 1)) {
    const f = s.files.find((x) => x.endsWith('.safetensors')) ?? s.files.find((x) => READABLE.test(x));
    if (f === undefined) continue;
    out.push({ set: s.set, file: f, extra: s.timeStateFiles.filter((t) => t.endsWith('.safetensors')) });
  }
  return out;
}

const cases = oracleCases();

describe('oracle: wasm backend ≡ ts backend on every fixture model', () => {
  skipIfNoCases(cases.length, 'oracle models');
  let wasm: WasmBackend;
  beforeAll(async () => {
    wasm = await WasmBackend.create({ threads: 2 });
  });
  afterAll(async () => {
    await wasm.dispose();
  });

  for (const c of cases) {
    for (const { set, file, extra } of filesOf(c)) {
      const path = fixturePath(file);
      const extraPaths = extra.map((e) => fixturePath(e));
      it.skipIf(path === undefined || extraPaths.includes(undefined))(`${c.model} ${set} ${file.split('/').pop()}`, async () => {
        const opts = { extraFiles: extraPaths as string[], weights: 'f32' as const };
        const ts = await RwkvModel.load(path!, { ...opts, backend: 'ts' });
        const wm = await RwkvModel.load(path!, { ...opts, backend: wasm });
        try {
          for (const p of c.oracle.prompts) {
            const r = p.results[set]!;
            const label = `${c.model}/${set}/${p.name}`;
            const sTs = ts.createState();
            const sWasm = wm.createState();
            const a = (await ts.forward(p.tokens, sTs)).logits as Float32Array;
            const b = (await wm.forward(p.tokens, sWasm)).logits as Float32Array;
            expectClose(`${label} seq_logits`, b, a, WASM_VS_TS_ATOL);
            expectClose(`${label} final_state`, await sWasm.toArray(), await sTs.toArray(), WASM_VS_TS_ATOL, WASM_VS_TS_STATE_RTOL);
            // RNN mode, one token per call
            const rTs = ts.createState();
            const rWasm = wm.createState();
            for (const [i, t] of p.tokens.entries()) {
              const la = (await ts.forward([t], rTs)).logits as Float32Array;
              const lb = (await wm.forward([t], rWasm)).logits as Float32Array;
              expectClose(`${label} rnn_logits[${i}]`, lb, la, WASM_VS_TS_ATOL);
            }
            // greedy tokens of the official implementation, from the wasm sequence state
            const greedy = await greedyTokens(wm, b, sWasm, r.greedy_tokens.length);
            expect(greedy, `${label} greedy_tokens`).toEqual(r.greedy_tokens);
          }
        } finally {
          wm.dispose();
        }
      });
    }
  }
});
