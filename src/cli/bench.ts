// `rwkv bench`: decode and prefill speed of a random RWKV-7 model with the real shapes of the
// released ones, under any strategy, without a model file.
//
//   rwkv bench --shape 0.1B|0.4B|1.5B|L,C,V [--strategy S] [--prefill 512] [--decode 64]
//              [--threads N] [--runs K] [--seed N] [--json]
//
// The model and the timing are src/bench/bench.ts (shared with the browser benchmark); this
// module only reads the command line. Its errors are usage errors like every command's.

import { type BenchOptions, parseShape, runBench } from '../bench/bench.ts';
import { RwkvError } from '../errors.ts';
import { parseStrategy } from '../strategy.ts';
import { formatBytes } from '../util/progress.ts';
import { UsageError, type Values } from './options.ts';

function count(name: string, s: string | undefined, fallback: number, min: number): number {
  if (s === undefined) return fallback;
  if (!/^\d+$/.test(s) || Number(s) < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got "${s}"`);
  return Number(s);
}

/** An engine's INVALID_ARGUMENT for a value the user typed, as a usage error naming the option. */
function asUsage<T>(option: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof RwkvError && e.code === 'INVALID_ARGUMENT') throw new UsageError(`--${option}: ${e.message}`);
    throw e;
  }
}

export async function cmdBench(v: Values, args: string[], out: (s: string) => void): Promise<void> {
  if (args.length > 0) throw new UsageError(`unexpected argument "${args[0]}"`);
  if (v.shape === undefined) throw new UsageError('--shape is required (0.1B, 0.4B, 1.5B or L,C,V)');
  const shape = asUsage('shape', () => parseShape(v.shape!));
  const strategy = v.strategy ?? 'auto';
  asUsage('strategy', () => parseStrategy(strategy));
  const opts: BenchOptions = {
    shape,
    strategy,
    prefill: count('prefill', v.prefill, 512, 0),
    decode: count('decode', v.decode, 64, 1),
    runs: count('runs', v.runs, 3, 1),
    seed: count('seed', v.seed, 1, 0),
    ...(v.threads !== undefined ? { threads: count('threads', v.threads, 1, 1) } : {}),
    ...(v.json ? {} : { log: out }),
  };
  if (!v.json) out(`rwkv bench: random RWKV-7 ${shape.name} (L${shape.nLayer} C${shape.nEmbd} V${shape.nVocab}), strategy "${strategy}"`);
  const r = await runBench(opts);
  if (v.json) {
    out(JSON.stringify(r));
    return;
  }
  const stored = Object.entries(r.weightBytes)
    .filter(([, b]) => b > 0)
    .map(([k, b]) => `${k} ${formatBytes(b)}`)
    .join(', ');
  out(`model: ${(r.params / 1e6).toFixed(1)}M params, loaded in ${r.loadSeconds.toFixed(1)} s; ${r.runtime}`);
  for (const line of r.placement) out(`  ${line}`);
  out(`weights: ${stored}; read per token ${formatBytes(r.weightBytesPerToken)}`);
  out(`decode:  ${r.decode.tokPerSec.toFixed(2)} tok/s (median of ${r.decode.runs.length} runs of ${r.decode.tokens} tokens)`);
  if (r.prefill)
    out(`prefill: ${r.prefill.tokPerSec.toFixed(2)} tok/s (median of ${r.prefill.runs.length} runs of ${r.prefill.tokens} tokens)`);
  out(`peak RSS: ${r.peakRssBytes !== null ? formatBytes(r.peakRssBytes) : 'unavailable in this runtime'}`);
}
