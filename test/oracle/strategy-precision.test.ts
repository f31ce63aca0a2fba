// The lossy storages of the strategy strings ("wasm bf16", "wasm fp16", "wasm fp32i8") against
// the fp32 model on every fixture model: the error of the last-token logits, as max|Δ| / std(ref)
// (the metric of RWKV-LM's RWKV-v7/rwkv_v7_numpy.py self-check), stays within the bounds docs/strategy.md states
// (STRATEGY_REL_ERROR_BOUNDS in test/helpers/tolerance.ts, with the measurements behind them).

import { afterAll, describe, expect, it } from 'vitest';
import { RwkvModel } from '../../src/index.ts';
import { type OracleCase, fixturePath, oracleCases } from '../helpers/fixtures.ts';
import { skipIfNoCases } from '../helpers/skip.ts';
import { STRATEGY_REL_ERROR_BOUNDS } from '../helpers/tolerance.ts';

function fileOf(c: OracleCase): { file: string; extra: string[] } | undefined {
  const s = c.sets[0];
  const f = s?.files.find((x) => x.endsWith('.safetensors')) ?? s?.files.find((x) => /\.(bin|pth)$/.test(x));
  if (s === undefined || f === undefined) return undefined;
  return { file: f, extra: s.timeStateFiles.filter((t) => t.endsWith('.safetensors')) };
}

/** max |a − b| / std(ref). */
function relError(ref: Float32Array, got: Float32Array): number {
  let mean = 0;
  for (const v of ref) mean += v;
  mean /= ref.length;
  let v2 = 0;
  for (const v of ref) v2 += (v - mean) ** 2;
  const sd = Math.sqrt(v2 / ref.length);
  let md = 0;
  for (let i = 0; i < ref.length; i++) md = Math.max(md, Math.abs(ref[i]! - got[i]!));
  return md / sd;
}

const worst: Record<string, number> = {};

const cases = oracleCases();

describe('oracle: lossy weight storages stay within their documented error', () => {
  skipIfNoCases(cases.length, 'oracle models');
  afterAll(() => console.log('strategy precision, worst max|Δ|/std:', JSON.stringify(worst)));
  for (const c of cases) {
    const f = fileOf(c);
    if (f === undefined) continue;
    const path = fixturePath(f.file);
    const extra = f.extra.map((e) => fixturePath(e));
    it.skipIf(path === undefined || extra.includes(undefined))(c.model, async () => {
      const ref = await RwkvModel.load(path!, { backend: 'ts', weights: 'f32', extraFiles: extra as string[] });
      for (const [strategy, bound] of Object.entries(STRATEGY_REL_ERROR_BOUNDS)) {
        const m = await RwkvModel.load(path!, { strategy, threads: 1, extraFiles: extra as string[] });
        try {
          for (const p of c.oracle.prompts) {
            // sequence (prefill kernels) and the last token again in RNN mode (decode kernels)
            const a = (await ref.forward(p.tokens)).logits as Float32Array;
            const st = m.createState();
            const head = p.tokens.length > 1 ? p.tokens.slice(0, -1) : p.tokens;
            const b = (await m.forward(head, st)).logits as Float32Array;
            const last = p.tokens.length > 1 ? ((await m.forward([p.tokens.at(-1)!], st)).logits as Float32Array) : b;
            const e = relError(a, last);
            worst[strategy] = Math.max(worst[strategy] ?? 0, e);
            expect(e, `${c.model} ${p.name} ${strategy}`).toBeLessThan(bound);
          }
        } finally {
          await m.dispose();
        }
      }
    });
  }
});
