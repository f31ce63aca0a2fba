// `--strategy S` (and `--threads N`) for every CLI command that loads a model. The CLI adds
// STRATEGY_OPTIONS to its parseArgs options and STRATEGY_HELP to its usage (its devices come from
// the backend registry, src/backends/registry.ts), and calls
// strategyLoadOptions(values) to get the RwkvModel.load options; a StrategyOptionError is a usage
// error (exit 2), its message already shows the grammar.
//
//   --strategy S   e.g. "wasm fp32", "wasm bf16 *8 -> ts fp32", "auto" (src/strategy.ts)
//   --threads N    worker threads for the backends the strategy opens (wasm)
// --strategy replaces --backend / --weights (they are a one-segment shorthand): giving both is
// an error rather than a silent preference.

import { RwkvError } from '../errors.ts';
import { STRATEGY_DEVICE_CHOICES, parseStrategy } from '../strategy.ts';

export const STRATEGY_OPTIONS = {
  strategy: { type: 'string' },
  threads: { type: 'string' },
} as const;

export const STRATEGY_HELP = `  --strategy S          which backend runs which layers, and how their weights are stored:
                        "auto" | DEVICE DTYPE[i8] [*N[+]] [-> …]; DEVICE ${STRATEGY_DEVICE_CHOICES},
                        DTYPE fp32 | bf16 | fp16 (i8: int8 linear layers); e.g. "wasm fp32",
                        "wasm fp32i8", "wasm bf16 *8 -> ts fp32" (see docs/strategy.md)
  --threads N           worker threads for the backends the strategy opens (default: all cores)`;

/** A bad --strategy / --threads value: a usage error (exit 2). */
export class StrategyOptionError extends Error {
  override readonly name = 'StrategyOptionError';
}

export interface StrategyOptionValues {
  strategy?: string | undefined;
  threads?: string | undefined;
  backend?: string | undefined;
  weights?: string | undefined;
}

/**
 * The RwkvModel.load options for --strategy / --threads: `{}` when --strategy is absent (the
 * command then uses --backend / --weights as before). The strategy is parsed here, so a bad one
 * fails before any file is read.
 */
export function strategyLoadOptions(v: StrategyOptionValues): { strategy?: string; threads?: number } {
  let threads: number | undefined;
  if (v.threads !== undefined) {
    if (!/^\d+$/.test(v.threads) || Number(v.threads) < 1)
      throw new StrategyOptionError(`--threads must be a positive integer, got "${v.threads}"`);
    threads = Number(v.threads);
  }
  const t = threads !== undefined ? { threads } : {};
  if (v.strategy === undefined) return t;
  const clash = [v.backend !== undefined ? '--backend' : '', v.weights !== undefined ? '--weights' : ''].filter((s) => s !== '');
  if (clash.length > 0) {
    throw new StrategyOptionError(
      `--strategy replaces ${clash.join(' and ')}; give one or the other ("--backend B --weights f32" is --strategy "B fp32")`,
    );
  }
  try {
    return { strategy: parseStrategy(v.strategy).text, ...t };
  } catch (e) {
    if (e instanceof RwkvError) throw new StrategyOptionError(`--strategy: ${e.message}`);
    throw e;
  }
}
