// The one check to run on a machine with an NVIDIA GPU (issue 6, "Verifying on a GPU"), bundled by
// `scripts/cuda-check.sh pack` into dist/cuda-check/check.mjs so it needs only a node binary
// and koffi there (no vitest, no TypeScript). It prints, then exits 0 only when every step passed:
//   1. the device, driver and where the kernels came from, for each kernel source (embedded PTX
//      from nvcc, NVRTC at run time);
//   2. the conformance suite of test/conformance/core.ts: every op against the TS backend, the
//      fixture models carried along and a random model of every version, with f32 and compact
//      (f16/bf16 as stored) weights: max |Δlogits| vs TS, greedy tokens;
//   3. for the 0.1B and 0.4B shapes (random RWKV-7 weights, src/bench/bench.ts), with "cuda fp16"
//      and "cuda fp32" weights: max |Δlogits| vs the TS backend holding the same weights
//      ("ts fp16" / "ts fp32"), greedy tokens, decode and prefill tok/s;
//   4. `rwkv bench --strategy "cuda fp16"` (the strategy layer opens the cuda backend by name).
// Environment: RWKV_CHECK_SHAPES (space-separated, default "0.1B 0.4B"; L,C,V too), RWKV_CHECK_BUDGET_S (default 480: later
// steps are skipped, saying so, once it is spent), RWKV_FIXTURES, the RWKV_CUDA_* library
// overrides of docs/cuda.md.

import type { Backend } from '../src/backends/backend.ts';
import { CudaBackend, cudaAvailable } from '../src/backends/cuda/index.ts';
import { TsBackend } from '../src/backends/ts/ts-backend.ts';
import { type BenchShape, benchTokens, median, parseShape, randomRwkv7Checkpoint, timeDecode, timePrefill } from '../src/bench/bench.ts';
import { main as rwkv } from '../src/cli/main.ts';
import type { Checkpoint } from '../src/tensor/tensor.ts';
import { RwkvModel } from '../src/model/model.ts';
import { parseStrategy, placeLayers } from '../src/strategy.ts';
import { checkErrors, checkModel, checkOps, modelSources } from '../test/conformance/core.ts';
import { DEVICE_FP16_LOGITS, DEVICE_FP32_LOGITS, DEVICE_OPS } from '../test/helpers/tolerance.ts';
import { argmax, compareClose } from '../test/helpers/tolerance.ts';

const started = performance.now();
const BUDGET_S = Number(process.env['RWKV_CHECK_BUDGET_S'] ?? 480);
const elapsed = () => (performance.now() - started) / 1000;
const results: { step: string; ok: boolean; note: string }[] = [];

function log(s: string): void {
  console.log(`[${elapsed().toFixed(1).padStart(6)} s] ${s}`);
}
function record(step: string, ok: boolean, note: string): void {
  results.push({ step, ok, note });
  log(`${ok ? 'PASS' : 'FAIL'} ${step}: ${note}`);
}
function overBudget(step: string): boolean {
  if (elapsed() < BUDGET_S) return false;
  record(step, false, `skipped: ${BUDGET_S} s budget spent`);
  return true;
}

/** A model on one backend with a strategy's weight storage ("cuda fp16" → matrices in f16). */
async function modelOn(ckpt: Checkpoint, backend: Backend, strategy: string): Promise<RwkvModel> {
  const s = parseStrategy(strategy);
  const nLayer = Number([...ckpt.keys()].filter((k) => /^blocks\.\d+\.ln1\.weight$/.test(k)).length);
  return RwkvModel.create(ckpt, { strategy: { strategy: s, nLayer, placement: placeLayers(s, nLayer), backends: [backend] } });
}

async function main(): Promise<number> {
  log(`node ${process.version}, ${process.platform} ${process.arch}`);
  const avail = await cudaAvailable();
  log(`cudaAvailable(): ${JSON.stringify(avail)}`);
  if (!avail.ok) {
    record('cuda available', false, avail.reason ?? '?');
    return 1;
  }

  // 1. both kernel sources
  let cuda: CudaBackend | undefined;
  for (const kernels of ['ptx', 'nvrtc'] as const) {
    try {
      const t0 = performance.now();
      const b = await CudaBackend.create({ kernels });
      record(`create (kernels: ${kernels})`, true, `${b.caps.description} [${(performance.now() - t0).toFixed(0)} ms]`);
      if (cuda === undefined) cuda = b;
      else b.dispose();
    } catch (e) {
      record(`create (kernels: ${kernels})`, false, (e as Error).message);
    }
  }
  if (cuda === undefined) return 1;

  // 2. conformance
  const ops = await checkOps(cuda, new TsBackend(), DEVICE_OPS);
  record(
    'ops vs ts',
    ops.failures.length === 0,
    `${ops.cases} cases, worst |Δ| ${ops.worst.d.toExponential(2)} (${ops.worst.name})${ops.failures.length ? `\n  ${ops.failures.join('\n  ')}` : ''}`,
  );
  const errs = checkErrors(cuda);
  record('typed errors', errs.length === 0, errs.join('; ') || 'bad token, shape mismatch, freed tensor');
  const models = {
    against: 'ts' as const,
    weights: [
      { weights: 'f32' as const, logits: DEVICE_FP32_LOGITS, exactGreedy: true },
      { weights: 'compact' as const, logits: DEVICE_FP16_LOGITS, exactGreedy: false },
    ],
    greedyTokens: 16,
    randomModels: true,
  };
  const sources = modelSources(models);
  log(`${sources.length} models (fixtures from ${process.env['RWKV_FIXTURES'] ?? '(default)'} and random ones)`);
  for (const src of sources) {
    for (const w of models.weights) {
      if (overBudget(`model ${src.label} ${w.weights}`)) continue;
      const r = await checkModel(cuda, src, w, models);
      record(`model ${src.label} weights ${w.weights}`, r.failures.length === 0, [...r.notes, ...r.failures].join('; '));
    }
  }

  // 3. 0.1B / 0.4B: logits vs TS and speed
  const shapes = (process.env['RWKV_CHECK_SHAPES'] ?? '0.1B 0.4B').split(/[\s;]+/).filter(Boolean);
  for (const name of shapes) {
    let shape: BenchShape;
    try {
      shape = parseShape(name); // 0.1B, 0.4B, 1.5B or L,C,V
    } catch (e) {
      record(`shape ${name}`, false, (e as Error).message);
      continue;
    }
    const ckpt = randomRwkv7Checkpoint(shape, 1);
    const prompt = benchTokens(8, shape.nVocab, 0x5eed);
    for (const dtype of ['fp16', 'fp32'] as const) {
      const step = `${name} cuda ${dtype}`;
      if (overBudget(step)) continue;
      const tol = dtype === 'fp16' ? DEVICE_FP16_LOGITS : DEVICE_FP32_LOGITS;
      const t0 = performance.now();
      const model = await modelOn(ckpt, cuda, `cuda ${dtype}`);
      const loadS = (performance.now() - t0) / 1000;
      try {
        // speed: decode after an 8-token prompt (64 tokens), prefill of 512 tokens; median of 3
        await timeDecode(model, prompt, 2); // warm-up
        const decode: number[] = [];
        const prefill: number[] = [];
        const prefillTokens = benchTokens(512, shape.nVocab, 0xf111);
        for (let run = 0; run < 3; run++) {
          decode.push(await timeDecode(model, prompt, 64));
          prefill.push(await timePrefill(model, prefillTokens));
        }
        // logits vs the TS backend with the same stored weights: the 8-token prompt (GPT mode),
        // then 3 greedy steps (RNN mode)
        let ts: RwkvModel | undefined;
        let note = '';
        let ok = true;
        if (!overBudget(`${step} vs ts`)) {
          ts = await modelOn(ckpt, new TsBackend(), `ts ${dtype}`);
          const a = await model.forward(prompt);
          const b = await ts.forward(prompt);
          let worst = compareClose('prompt', a.logits as Float32Array, b.logits as Float32Array, tol.atol, tol.rtol);
          ok = worst.ok;
          let la = a.logits as Float32Array;
          let lb = b.logits as Float32Array;
          const greedyA: number[] = [];
          const greedyB: number[] = [];
          for (let i = 0; i < 3; i++) {
            greedyA.push(argmax(la));
            greedyB.push(argmax(lb));
            la = (await model.forward([greedyA.at(-1)!], a.state)).logits as Float32Array;
            lb = (await ts.forward([greedyA.at(-1)!], b.state)).logits as Float32Array;
            const r = compareClose(`step ${i}`, la, lb, tol.atol, tol.rtol);
            ok &&= r.ok;
            if (r.maxAbs > worst.maxAbs) worst = r;
          }
          const same = greedyA.every((t, i) => t === greedyB[i]);
          if (dtype === 'fp32') ok &&= same;
          note = `max |Δlogits| vs ts ${dtype} ${worst.maxAbs.toExponential(2)} (budget ${tol.atol}), greedy ${same ? 'same' : `DIFFERENT ${greedyA} vs ${greedyB}`}; `;
          a.state.dispose();
          b.state.dispose();
          await ts.dispose();
        }
        record(
          step,
          ok,
          `${note}decode ${median(decode).toFixed(1)} tok/s [${decode.map((d) => d.toFixed(1)).join(', ')}], ` +
            `prefill(512) ${median(prefill).toFixed(0)} tok/s [${prefill.map((p) => p.toFixed(0)).join(', ')}], load ${loadS.toFixed(1)} s`,
        );
      } finally {
        await model.dispose();
      }
    }
  }

  // 4. `rwkv bench` through the strategy layer (the registry's 'cuda' entry)
  for (const name of shapes) {
    if (overBudget(`rwkv bench ${name}`)) continue;
    const lines: string[] = [];
    try {
      const rc = await rwkv(
        ['bench', '--shape', name, '--strategy', 'cuda fp16', '--prefill', '512', '--decode', '64', '--runs', '3'],
        (s) => lines.push(s),
        (s) => lines.push(s),
      );
      record(`rwkv bench --shape ${name} --strategy "cuda fp16"`, rc === 0, `exit ${rc}\n  ${lines.join('\n  ')}`);
    } catch (e) {
      record(`rwkv bench --shape ${name} --strategy "cuda fp16"`, false, (e as Error).message);
    }
  }
  cuda.dispose();
  return results.every((r) => r.ok) ? 0 : 1;
}

const code = await main().catch((e: unknown) => {
  record('check', false, e instanceof Error ? (e.stack ?? e.message) : String(e));
  return 1;
});
console.log('\n==== cuda-check summary ====');
for (const r of results) console.log(`${r.ok ? 'PASS' : 'FAIL'}  ${r.step}`);
console.log(`${results.filter((r) => r.ok).length}/${results.length} passed in ${elapsed().toFixed(1)} s`);
process.exit(code);
