// Where the shared fixtures live (real tiny models, synthetic models, reference numbers from the
// official implementation). RWKV_FIXTURES overrides the default `../shared/fixtures` (relative to
// the repository root). Tests that need a missing file skip with a loud message naming the path.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURES_DIR = resolve(REPO_ROOT, process.env['RWKV_FIXTURES'] ?? '../shared/fixtures');

const warned = new Set<string>();

/** One loud warning per distinct reason, so a skip is never silent. */
export function warnSkipping(reason: string): void {
  if (warned.has(reason)) return;
  warned.add(reason);
  console.warn(`\n!!!!!!!! SKIPPING: ${reason}\n!!!!!!!! set RWKV_FIXTURES to the fixtures folder (default ../shared/fixtures)\n`);
}

/** Absolute path of a fixture, or undefined (with one loud warning) when it is missing. */
export function fixturePath(relative: string): string | undefined {
  const p = join(FIXTURES_DIR, relative);
  if (existsSync(p)) return p;
  warnSkipping(`fixture not found: ${p}`);
  return undefined;
}

// ---- oracle JSON (docs/fixtures.md "The oracle JSON files") ----

export interface OracleResults {
  seq_logits: number[];
  rnn_logits?: number[][];
  rnn_last_logits?: number[];
  chunk7_logits?: number[][];
  greedy_tokens: number[];
  greedy_margins: number[];
  final_state?: number[];
}

export interface OraclePrompt {
  name: string;
  text: string;
  tokens: number[];
  results: Record<string, OracleResults>;
}

export interface Oracle {
  model: string;
  arch: {
    model_py_detected: string;
    n_layer: number;
    n_embd: number;
    n_vocab: number;
    n_ffn: number;
    n_head?: number;
    head_size?: number;
  };
  weight_sets: Record<string, { files: string[]; time_state_files?: string[] }>;
  state_layout: { per_layer: { name: string; shape: number[] }[]; layer_size: number; total_size: number };
  prompts: OraclePrompt[];
}

export function readOracle(relative: string): Oracle | undefined {
  const p = fixturePath(relative);
  return p === undefined ? undefined : (JSON.parse(readFileSync(p, 'utf8')) as Oracle);
}

export const TINY_MODELS = ['4v0-660K', '5v1-730K', '5v2-730K', '6v0-1m', '7v0-834K'] as const;
export const SYNTHETIC_MODELS = [
  'rwkv4-L3-C96',
  'rwkv5.1-L2-C64-H4',
  'rwkv5.2-L2-C128-H2',
  'rwkv6-L2-C128-H2',
  'rwkv6-L2-C128-H2-state',
  'rwkv7-L3-C128-H2',
  'rwkv7-de-L2-C64-H1',
] as const;

export interface OracleCase {
  /** e.g. "tiny-rwkv-7v0-834K" */
  model: string;
  oracle: Oracle;
  /** weight set name → files (relative to the fixtures dir) of that set */
  sets: { set: string; files: string[]; timeStateFiles: string[] }[];
}

/** Every oracle (12 models) that is present, with its weight sets. */
export function oracleCases(): OracleCase[] {
  const cases: OracleCase[] = [];
  for (const m of TINY_MODELS) {
    const oracle = readOracle(`oracle/tiny-rwkv-${m}.json`);
    if (oracle) cases.push(toCase(`tiny-rwkv-${m}`, oracle));
  }
  for (const m of SYNTHETIC_MODELS) {
    const oracle = readOracle(`synthetic/oracle/synthetic-${m}.json`);
    if (oracle) cases.push(toCase(`synthetic-${m}`, oracle));
  }
  return cases;
}

function toCase(model: string, oracle: Oracle): OracleCase {
  return {
    model,
    oracle,
    sets: Object.entries(oracle.weight_sets).map(([set, ws]) => ({
      set,
      files: ws.files,
      timeStateFiles: ws.time_state_files ?? [],
    })),
  };
}
