#!/usr/bin/env node
// Runs the test suite under Node, Deno and Bun, one after the other, and fails if any run fails.
// See test/runtimes/README.md.
//
//   node test/runtimes/run.mjs [options] [node] [deno] [bun] [-- extra vitest args]
//
//   (no runtime named)  all three: node, deno, bun
//   --lint              first run `biome check .` (npm run lint; a failure is reported, the
//                       test runs still happen, the exit status is 1)
//   --typecheck         first run `tsc -p tsconfig.json --noEmit` (a failure is reported, the
//                       test runs still happen, the exit status is 1)
//   --full              the whole suite; the default is the core suite (CORE_EXCLUDE below)
//   --pack              last, run scripts/test-pack.mjs (npm run test:pack: the packed tarball,
//                       installed in an empty folder, in Node, Deno and Bun; needs dist/ built)
//   --no-smoke          skip the native import smoke test (test/runtimes/smoke.mjs)
//   -- <args>           passed to every vitest run, e.g. `-- test/unit` or `-- -t safetensors`;
//                       other arguments that are not runtimes or the options above go there too
//
// Every runtime runs the *same* vitest (node_modules/vitest/vitest.mjs) with the same
// vitest.config.ts: `node vitest.mjs run`, `deno run -A vitest.mjs run`, `bun --bun vitest.mjs run`.
// vitest forks its test workers with the executable it runs under, so the test files execute in
// that runtime; test/runtimes/runtime.test.ts checks it, and a run where that guard test did not
// pass counts as failed. A run that finds no tests also fails.
//
// Environment: RWKV_TEST_TIMEOUT_S (per step, default 420), RWKV_FIXTURES (see
// test/helpers/fixtures.ts), FC_SEED / FC_RUNS (see test/helpers/setup.ts).

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const BIN = join(ROOT, 'node_modules', '.bin');
const VITEST = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
const RUNTIMES = ['node', 'deno', 'bun'];

// The core suite is every test/**/*.test.ts except these (slow or opt-in tests). Name a test file
// `*.slow.test.ts`, or put it under test/slow/, to keep it out of `npm test` / `.ci/run`; it still
// runs with `npm run test:full` (and with a plain `npx vitest run`).
const CORE_EXCLUDE = ['test/**/*.slow.test.ts', 'test/slow/**'];

const GUARD_FILE = 'test/runtimes/runtime.test.ts';
const GUARD_TEST = 'runtime guard runs inside the runtime the runner asked for';
const STEP_TIMEOUT_S = Number(process.env['RWKV_TEST_TIMEOUT_S'] ?? 420);

// ---------- arguments ----------
const argv = process.argv.slice(2);
const dd = argv.indexOf('--');
const own = dd < 0 ? argv : argv.slice(0, dd);
const vitestExtra = dd < 0 ? [] : argv.slice(dd + 1);
let lint = false;
let typecheck = false;
let pack = false;
let full = false;
let smoke = true;
const wanted = [];
for (const a of own) {
  if (a === '--typecheck') typecheck = true;
  else if (a === '--lint') lint = true;
  else if (a === '--pack') pack = true;
  else if (a === '--full') full = true;
  else if (a === '--no-smoke') smoke = false;
  else if (RUNTIMES.includes(a)) wanted.push(a);
  else vitestExtra.push(a); // anything else goes to vitest: `npm test -- test/unit -t safetensors`
}
const runtimes = wanted.length > 0 ? RUNTIMES.filter((r) => wanted.includes(r)) : RUNTIMES;

// ---------- locating the runtimes (installed from npm as devDependencies) ----------
function works(cmd) {
  const r = spawnSync(cmd, ['--version'], { encoding: 'utf8', timeout: 60_000 });
  return r.status === 0 ? (r.stdout.trim().split('\n')[0] ?? '') : undefined;
}

// node_modules/.bin/<name> first. The `bun` and `deno` npm packages link their platform binary
// there in a postinstall script; if install scripts were skipped, the binary is still in the
// per-platform optional package (@oven/bun-linux-x64/bin/bun, @deno/linux-x64-glibc/deno, ...).
function findRuntime(name) {
  if (name === 'node') return { cmd: process.execPath, version: `node ${process.versions.node}` };
  const candidates = [join(BIN, name)];
  const scope = join(ROOT, 'node_modules', name === 'bun' ? '@oven' : '@deno');
  if (existsSync(scope)) {
    for (const d of readdirSync(scope)) {
      candidates.push(name === 'bun' ? join(scope, d, 'bin', 'bun') : join(scope, d, 'deno'));
    }
  }
  for (const c of candidates) {
    if (!existsSync(c)) continue;
    const v = works(c);
    if (v !== undefined) {
      const num = /\d+\.\d+\.\d+\S*/.exec(v)?.[0] ?? v;
      return { cmd: c, version: `${name} ${num}` };
    }
  }
  return { cmd: undefined, version: `${name} not found (tried ${candidates.join(', ')}); run npm ci` };
}

// ---------- running one step with a timeout ----------
function runStep(cmd, args, env) {
  const started = Date.now();
  return new Promise((done) => {
    const child = spawn(cmd, args, {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, ...env },
      detached: process.platform !== 'win32', // own process group, so a timeout kills the workers too
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      console.error(`\nrun.mjs: step timed out after ${STEP_TIMEOUT_S}s, killing it`);
      try {
        if (process.platform !== 'win32') process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }, STEP_TIMEOUT_S * 1000);
    child.on('error', (e) => {
      clearTimeout(timer);
      console.error(`run.mjs: cannot start ${cmd}: ${e.message}`);
      done({ code: 127, timedOut, seconds: (Date.now() - started) / 1000 });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      done({ code: code ?? (signal ? 128 : 1), timedOut, seconds: (Date.now() - started) / 1000 });
    });
  });
}

function banner(text) {
  const line = '='.repeat(Math.max(20, text.length + 8));
  console.log(`\n${line}\n=== ${text}\n${line}`);
}

// ---------- one vitest run ----------
function vitestCommand(runtime, cmd) {
  const base = [VITEST, 'run'];
  if (runtime === 'node') return [cmd, base];
  // -A: the tests read fixtures, spawn workers, read env. --no-lock: never write a deno.lock.
  if (runtime === 'deno') return [cmd, ['run', '-A', '--no-lock', ...base]];
  // --bun: node shebangs spawned by vitest run on Bun too. --no-install: never auto-install.
  return [cmd, ['--bun', '--no-install', ...base]];
}

function smokeCommand(runtime, cmd) {
  const script = join(ROOT, 'test', 'runtimes', 'smoke.mjs');
  if (runtime === 'node') return [cmd, ['--import', 'tsx', script]]; // Node 20 cannot strip types
  if (runtime === 'deno') return [cmd, ['run', '-A', '--no-lock', script]];
  return [cmd, ['--no-install', script]];
}

function readReport(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Counts from vitest's JSON report, plus the reasons this run must count as failed. */
function judge(report, step) {
  const problems = [];
  if (step.timedOut) problems.push(`timed out after ${STEP_TIMEOUT_S}s`);
  if (report === undefined) {
    problems.push(`no JSON report (vitest exit ${step.code})`);
    return { files: 0, passed: 0, failed: 0, skipped: 0, problems };
  }
  const files = report.testResults ?? [];
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  let guard = false;
  let projectPassed = 0;
  const failedFiles = [];
  for (const f of files) {
    const rel = f.name.startsWith(ROOT) ? f.name.slice(ROOT.length + 1).replaceAll('\\', '/') : f.name;
    if (f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed')) {
      failedFiles.push(rel); // failed to load, or failed in a hook
    }
    for (const a of f.assertionResults ?? []) {
      if (a.status === 'passed') {
        passed++;
        if (rel === GUARD_FILE && a.fullName === GUARD_TEST) guard = true;
        else projectPassed++;
      } else if (a.status === 'failed') failed++;
      else skipped++; // skipped, pending, todo
    }
  }
  if (failed > 0) problems.push(`${failed} test(s) failed`);
  if (failedFiles.length > 0) problems.push(`file(s) failed outside any test: ${failedFiles.join(', ')}`);
  if (passed + failed + skipped === 0) problems.push('no tests found');
  else if (projectPassed === 0) problems.push('no project test passed');
  if (!guard) {
    const msg = `runtime guard (${GUARD_FILE}) did not pass: the tests may not have run in this runtime`;
    // With a filter after `--` the guard may be filtered out: only warn then.
    if (vitestExtra.length === 0) problems.push(msg);
    else console.warn(`run.mjs: warning: ${msg} (filtered out by the extra vitest arguments?)`);
  }
  if (step.code !== 0 && problems.length === 0) problems.push(`vitest exited with ${step.code}`);
  return { files: files.length, passed, failed, skipped, problems };
}

// ---------- main ----------
const results = [];
const tmp = mkdtempSync(join(tmpdir(), 'rwkv-test-'));
const t0 = Date.now();
try {
  if (!existsSync(VITEST)) {
    console.error(`run.mjs: ${VITEST} is missing; run npm ci first`);
    process.exit(1);
  }

  if (lint) {
    banner('lint: biome check .');
    const biome = join(BIN, process.platform === 'win32' ? 'biome.cmd' : 'biome');
    const step = await runStep(biome, ['check', '.'], {});
    results.push({
      name: 'lint',
      step: true,
      version: '',
      seconds: step.seconds,
      problems: step.code === 0 ? [] : [`biome exited with ${step.code}`],
    });
  }

  if (typecheck) {
    banner('typecheck: tsc -p tsconfig.json --noEmit');
    const tsc = join(BIN, process.platform === 'win32' ? 'tsc.cmd' : 'tsc');
    const step = await runStep(tsc, ['-p', 'tsconfig.json', '--noEmit'], {});
    results.push({
      name: 'typecheck',
      step: true,
      version: '',
      seconds: step.seconds,
      problems: step.code === 0 ? [] : [`tsc exited with ${step.code}`],
    });
  }

  const suite = full ? 'full' : 'core';
  const suiteArgs = full ? [] : CORE_EXCLUDE.flatMap((g) => ['--exclude', g]);
  for (const runtime of runtimes) {
    const rt = findRuntime(runtime);
    if (rt.cmd === undefined) {
      banner(`${runtime}: not available`);
      console.error(rt.version);
      results.push({ name: runtime, version: rt.version, seconds: 0, problems: ['runtime not found'] });
      continue;
    }
    const env = {
      RWKV_TEST_RUNTIME: runtime,
      DENO_NO_UPDATE_CHECK: '1',
      DENO_NO_PROMPT: '1',
      DO_NOT_TRACK: '1',
    };
    const problems = [];
    let seconds = 0;
    let counts = { files: 0, passed: 0, failed: 0, skipped: 0 };

    if (smoke) {
      banner(`${rt.version}: native import smoke test`);
      const [cmd, args] = smokeCommand(runtime, rt.cmd);
      const step = await runStep(cmd, args, env);
      seconds += step.seconds;
      if (step.code !== 0) problems.push(step.timedOut ? 'smoke test timed out' : 'native import smoke test failed');
    }

    const json = join(tmp, `${runtime}.json`);
    const [cmd, args] = vitestCommand(runtime, rt.cmd);
    const fullArgs = [...args, ...suiteArgs, '--reporter=default', '--reporter=json', `--outputFile.json=${json}`, ...vitestExtra];
    banner(`${rt.version}: vitest run (${suite} suite)`);
    const step = await runStep(cmd, fullArgs, env);
    seconds += step.seconds;
    const { problems: vitestProblems, ...j } = judge(readReport(json), step);
    counts = j;
    problems.push(...vitestProblems);
    results.push({ name: runtime, version: rt.version, seconds, problems, ...counts });
  }

  if (pack) {
    banner('pack: scripts/test-pack.mjs (the installed tarball in node, deno, bun)');
    const step = await runStep(process.execPath, [join(ROOT, 'scripts', 'test-pack.mjs')], {});
    results.push({
      name: 'pack',
      step: true,
      version: '',
      seconds: step.seconds,
      problems: step.code === 0 ? [] : [`test-pack exited with ${step.code}`],
    });
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

// ---------- summary ----------
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);
banner('summary');
let passed = 0;
let failed = 0;
let skipped = 0;
let bad = 0;
for (const r of results) {
  const ok = r.problems.length === 0;
  if (!ok) bad++;
  const status = ok ? 'ok  ' : 'FAIL';
  if (r.step) {
    console.log(`${status} ${pad(r.name, 10)} ${lpad(r.seconds.toFixed(1), 6)}s${ok ? '' : `  <- ${r.problems.join('; ')}`}`);
    continue;
  }
  passed += r.passed ?? 0;
  failed += r.failed ?? 0;
  skipped += r.skipped ?? 0;
  const counts =
    r.files === undefined
      ? ''
      : `${lpad(r.passed, 4)} passed, ${lpad(r.failed, 3)} failed, ${lpad(r.skipped, 3)} skipped in ${lpad(r.files, 3)} files`;
  console.log(
    `${status} ${pad(r.name, 10)} ${lpad(r.seconds.toFixed(1), 6)}s  ${pad(counts, 52)} ${r.version}${ok ? '' : `\n       <- ${r.problems.join('; ')}`}`,
  );
}
const took = ((Date.now() - t0) / 1000).toFixed(1);
const names = results.map((r) => `${r.name} ${r.problems.length === 0 ? 'ok' : 'FAILED'}`).join(', ');
console.log(`\n${bad === 0 ? 'PASS' : 'FAIL'}: ${passed} passed, ${failed} failed, ${skipped} skipped (${names}) in ${took}s`);
process.exit(bad === 0 ? 0 : 1);
