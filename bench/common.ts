// Shared bits of the benchmark scripts: environment knobs, the runtime/machine header, tinybench
// result extraction, validation helpers and a Markdown table printer. Only Web APIs and node:os
// (which Node, Deno and Bun all provide), so every bench file runs under all three runtimes.

import * as os from 'node:os';
import type { Task } from 'tinybench';
import { createRng } from '../src/generate/rng.ts';

// ---------- environment ----------

/** A numeric environment variable, or `fallback` when unset/invalid. */
export function envNumber(name: string, fallback: number): number {
  const raw = globalThis.process?.env?.[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}=${raw}: expected a non-negative number`);
  return n;
}

/** A comma-separated environment variable, or `fallback` when unset. */
export function envList(name: string, fallback: readonly string[]): string[] {
  const raw = globalThis.process?.env?.[name];
  if (raw === undefined || raw.trim() === '') return [...fallback];
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

// ---------- runtime and machine ----------

export interface Environment {
  runtime: string;
  date: string;
  os: string;
  cpu: string;
  cores: number;
}

/** "node 20.20.2" / "deno 2.9.6" / "bun 1.4.5", without trusting anything but the globals. */
export function runtimeName(): string {
  const g = globalThis as unknown as {
    Deno?: { version: { deno: string } };
    Bun?: { version: string };
    process?: { versions?: { node?: string } };
  };
  if (g.Deno !== undefined) return `deno ${g.Deno.version.deno}`;
  if (g.Bun !== undefined) return `bun ${g.Bun.version}`;
  if (g.process?.versions?.node !== undefined) return `node ${g.process.versions.node}`;
  return 'unknown runtime';
}

export function environment(): Environment {
  const cpus = os.cpus();
  return {
    runtime: runtimeName(),
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    os: `${os.platform()} ${os.arch()}`,
    cpu: cpus[0]?.model?.trim() || 'unknown CPU',
    cores: cpus.length,
  };
}

export function printHeader(title: string, env: Environment, lines: readonly string[]): void {
  console.log(`\n## ${title}\n`);
  console.log(`- date: ${env.date}`);
  console.log(`- runtime: ${env.runtime}`);
  console.log(`- machine: ${env.cpu} × ${env.cores} cores, ${env.os}`);
  for (const l of lines) console.log(`- ${l}`);
  console.log('');
}

// ---------- tinybench results ----------

export interface Timing {
  /** Median latency of one task call, ms (robust on a noisy machine). */
  medianMs: number;
  meanMs: number;
  /** Relative margin of error of the mean, % (95% CI half-width). */
  rme: number;
  samples: number;
}

export function timingOf(task: Task): Timing {
  const r = task.result;
  if (r.state === 'errored') throw r.error;
  if (r.state !== 'completed' && r.state !== 'aborted-with-statistics') {
    throw new Error(`task "${task.name}" did not complete (state ${r.state})`);
  }
  return { medianMs: r.latency.p50, meanMs: r.latency.mean, rme: r.latency.rme, samples: r.latency.samplesCount };
}

/** Print one line per finished task on stderr, so a long run shows progress. */
export function progress(message: string): void {
  const p = globalThis.process as { stderr?: { write(s: string): unknown } } | undefined;
  if (p?.stderr) p.stderr.write(`  … ${message}\n`);
}

// ---------- validation ----------

/** Largest |a − b| / max(1, |b|) over two equal-length arrays (b is the reference). */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!));
    if (!(d <= worst)) worst = d; // NaN propagates as the worst
  }
  return worst;
}

/** Throw unless a ≈ b within `tol` (absolute for |b| ≤ 1, relative above). */
export function expectClose(what: string, a: ArrayLike<number>, b: ArrayLike<number>, tol: number): number {
  const d = maxRelDiff(a, b);
  if (!(d <= tol)) throw new Error(`validation failed: ${what}: max diff ${d} > ${tol}`);
  return d;
}

/** A sink that consumes benchmark results so the work cannot be optimised away. */
export const sink = { value: 0 };

// ---------- formatting ----------

export function fmt(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1000) return x.toFixed(0);
  return x.toPrecision(digits);
}

/** A Markdown table; columns whose header starts with '>' are right-aligned (the '>' is dropped). */
export function markdownTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const right = headers.map((h) => h.startsWith('>'));
  const names = headers.map((h) => (h.startsWith('>') ? h.slice(1) : h));
  const width = names.map((h, c) => Math.max(h.length, 3, ...rows.map((r) => (r[c] ?? '').length)));
  const cell = (s: string, c: number) => (right[c] ? s.padStart(width[c]!) : s.padEnd(width[c]!));
  const line = (cells: readonly string[]) => `| ${cells.map((s, c) => cell(s, c)).join(' | ')} |`;
  const rule = `|${width.map((w, c) => (right[c] ? `${'-'.repeat(w + 1)}:` : `${'-'.repeat(w + 2)}`)).join('|')}|`;
  return [line(names), rule, ...rows.map(line)].join('\n');
}

/** Σ_r Σ_i x[i]·y[i] (reps times): the plain scalar multiply-add loop of the kernel bench's baseline. */
export function dotLoop(x: Float32Array, y: Float32Array, n: number, reps: number): number {
  let total = 0;
  for (let r = 0; r < reps; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i]! * y[i]!;
    total += s;
  }
  return total;
}

/**
 * Uniform in [0, 1), 32 random bits each: the benches' inputs are seeded so every run does the same
 * work. The generator is the library's PCG32 (src/generate/rng.ts), as in the tests.
 */
export function rng(seed: number): () => number {
  const r = createRng(seed);
  return () => r.nextUint32() / 4294967296;
}
