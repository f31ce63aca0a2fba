#!/usr/bin/env node
// Tests the package as users get it: `npm pack` the current dist/, install the tarball into an
// empty folder, then in Node, Deno and Bun run the `rwkv` bin (--help, --version, one forward
// pass) and an ESM `import { RwkvModel } from 'rwkv'` with one forward pass, plus an import of
// every other subpath in package.json "exports" (rwkv/reference, ...). Nothing in the repo
// (src/, test/, node_modules/) is reachable from the install folder, so a file missing from
// package.json "files", a broken "exports" or "bin" entry, or a runtime that cannot load dist/
// fails here.
//
//   node scripts/test-pack.mjs          (npm run test:pack; part of npm test, see .ci/run)
//
// The model: with the shared fixtures (RWKV_FIXTURES, default ../shared/fixtures) the tiny RWKV-7
// and its official logits (oracle/tiny-rwkv-7v0-834K.json); without them a small random RWKV-4
// written here as .safetensors, checked for the same logits in all three runtimes and through
// the bin and the API.
//
// Offline: the tarball's dependencies (@huggingface/tokenizers, and koffi, optional) are packed
// from this repo's node_modules (the versions package-lock.json pins) and installed with
// `npm install --offline`, so no registry is asked. dist/ is packed as it is (`npm pack
// --ignore-scripts`: `prepare` would rebuild the WASM, ~1 min): `npm ci` / `npm run build` builds
// it; this script refuses a dist/ older than src/ or holding a WASM binary built from other
// assembly/ sources (scripts/wasm-source-hash.mjs).

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { wasmSourceSha256 } from './wasm-source-hash.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURES = resolve(ROOT, process.env.RWKV_FIXTURES ?? '../shared/fixtures');
/**
 * fp32 logits: against the official numbers, the project's contract (docs/fixtures.md
 * "Tolerances"); between runtimes and between the bin and the API, the same bound, as the engines'
 * Math.exp may differ in the last bit.
 */
const LOGITS_ATOL = 1e-4;
const t0 = Date.now();
const failures = [];

function fail(what) {
  failures.push(what);
  console.error(`FAIL ${what}`);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20, ...opts });
  return { code: r.status ?? (r.error ? 127 : 128), out: r.stdout ?? '', err: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

// ---------- dist/ must be built from the current sources ----------
function newest(dir, ext) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    // parentPath: Node ≥ 20.12; path before that
    if (e.isFile() && e.name.endsWith(ext)) t = Math.max(t, statSync(join(e.parentPath ?? e.path, e.name)).mtimeMs);
  }
  return t;
}
const distEntry = join(ROOT, 'dist', 'src', 'index.js');
if (!existsSync(distEntry)) {
  console.error('test-pack: dist/ is not built: run `npm run build` (npm ci does it)');
  process.exit(1);
}
if (newest(join(ROOT, 'src'), '.ts') > newest(join(ROOT, 'dist', 'src'), '.js')) {
  console.error('test-pack: dist/ is older than src/: run `npm run build`');
  process.exit(1);
}
const distBinary = readFileSync(join(ROOT, 'dist', 'src', 'backends', 'wasm', 'binary.generated.js'), 'utf8');
if (/ASSEMBLY_SHA256 = '([0-9a-f]{64})'/.exec(distBinary)?.[1] !== wasmSourceSha256(ROOT)) {
  console.error('test-pack: the WASM binary in dist/ was built from other assembly/ sources: run `npm run build`');
  process.exit(1);
}

// ---------- runtimes (npm dev dependencies, as test/runtimes/run.mjs finds them) ----------
function findRuntime(name) {
  if (name === 'node') return process.execPath;
  const candidates = [join(ROOT, 'node_modules', '.bin', name)];
  const scope = join(ROOT, 'node_modules', name === 'bun' ? '@oven' : '@deno');
  if (existsSync(scope)) {
    for (const d of readdirSync(scope)) candidates.push(name === 'bun' ? join(scope, d, 'bin', 'bun') : join(scope, d, 'deno'));
  }
  return candidates.find((c) => existsSync(c) && run(c, ['--version']).code === 0);
}

// ---------- a small random RWKV-4 as .safetensors (when the fixtures are absent) ----------
function writeRandomV4(file) {
  const C = 16;
  const F = 32;
  const V = 64;
  let s = 0x9e3779b9;
  const rand = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  const tensors = [];
  const put = (key, shape, lo, hi) => {
    const n = shape.reduce((a, b) => a * b, 1);
    tensors.push([key, shape, Float32Array.from({ length: n }, () => lo + (hi - lo) * rand())]);
  };
  const ln = (p) => {
    put(`${p}.weight`, [C], 0.7, 1.3);
    put(`${p}.bias`, [C], -0.2, 0.2);
  };
  put('emb.weight', [V, C], -1.5, 1.5);
  ln('blocks.0.ln0');
  for (let i = 0; i < 2; i++) {
    const p = `blocks.${i}.`;
    ln(`${p}ln1`);
    ln(`${p}ln2`);
    for (const m of ['k', 'v', 'r']) put(`${p}att.time_mix_${m}`, [1, 1, C], 0, 1);
    put(`${p}att.time_decay`, [C], -2, 1);
    put(`${p}att.time_first`, [C], -1, 1);
    for (const m of ['key', 'value', 'receptance', 'output']) put(`${p}att.${m}.weight`, [C, C], -0.4, 0.4);
    for (const m of ['k', 'r']) put(`${p}ffn.time_mix_${m}`, [1, 1, C], 0, 1);
    put(`${p}ffn.key.weight`, [F, C], -0.4, 0.4);
    put(`${p}ffn.receptance.weight`, [C, C], -0.4, 0.4);
    put(`${p}ffn.value.weight`, [C, F], -0.3, 0.3);
  }
  ln('ln_out');
  put('head.weight', [V, C], -0.8, 0.8);
  const header = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [key, shape, data] of tensors) {
    header[key] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const out = Buffer.alloc(8 + json.length + offset);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  out.write(json, 8, 'latin1');
  let o = 8 + json.length;
  for (const [, , data] of tensors) {
    Buffer.from(data.buffer).copy(out, o);
    o += data.byteLength;
  }
  writeFileSync(file, out);
  return V;
}

// ---------- the ESM check, run by each runtime inside the install folder ----------
const CHECK = `import process from 'node:process';
import { RwkvError, RwkvModel } from 'rwkv';
const [file, tokens, subpaths] = process.argv.slice(2);
if (typeof RwkvError !== 'function') throw new Error('rwkv exports no RwkvError');
// every subpath of package.json "exports" resolves and loads from the installed files
for (const sub of subpaths.split(',')) {
  const names = Object.keys(await import(sub));
  if (names.length === 0) throw new Error(sub + ' exports nothing');
}
const model = await RwkvModel.load(file);
const { logits } = await model.forward(tokens.split(',').map(Number));
await model.dispose?.();
console.log(JSON.stringify({ logits: Array.from(logits) }));
`;

function maxAbsDiff(a, b) {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Number.isFinite(a[i]) ? Math.abs(a[i] - b[i]) : Infinity);
  return m;
}

const tmp = mkdtempSync(join(tmpdir(), 'rwkv-pack-'));
try {
  // ---------- pack and install ----------
  const packs = join(tmp, 'packs');
  mkdirSync(packs);
  const pack = (dir) => {
    const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packs], { cwd: dir, encoding: 'utf8' });
    return join(packs, JSON.parse(out)[0].filename);
  };
  const tarball = pack(ROOT);
  const deps = ['@huggingface/tokenizers', 'koffi']
    .filter((d) => existsSync(join(ROOT, 'node_modules', d)))
    .map((d) => pack(join(ROOT, 'node_modules', d)));
  console.log(`test-pack: packed ${tarball.split('/').pop()} (${(statSync(tarball).size / 1024).toFixed(0)} KiB)`);
  const app = join(tmp, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'rwkv-pack-check', private: true, type: 'module' }));
  const inst = run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball, ...deps], { cwd: app });
  if (inst.code !== 0) throw new Error(`npm install of the tarball failed:\n${inst.err}`);
  writeFileSync(join(app, 'check.mjs'), CHECK);

  // ---------- the model ----------
  let model;
  let tokens;
  let official;
  const fixture = join(FIXTURES, 'tiny-rwkv', 'tiny-rwkv-7v0-834K-FP32.bin');
  const oracle = join(FIXTURES, 'oracle', 'tiny-rwkv-7v0-834K.json');
  if (existsSync(fixture) && existsSync(oracle)) {
    const sentence = JSON.parse(readFileSync(oracle, 'utf8')).prompts.find((p) => p.name === 'sentence');
    model = fixture;
    tokens = sentence.tokens.join(',');
    official = sentence.results.fp32.seq_logits;
    console.log(`test-pack: model ${fixture} (official logits from ${oracle})`);
  } else {
    model = join(app, 'random-v4.safetensors');
    const V = writeRandomV4(model);
    tokens = [1, 5, V - 1, 0, 7].join(',');
    console.log(`test-pack: fixtures not found under ${FIXTURES}: a random RWKV-4 (${V} tokens) written here`);
  }

  // ---------- each runtime: the bin and the ESM import ----------
  const bin = join(app, 'node_modules', 'rwkv', 'dist', 'src', 'bin.js');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const version = pkg.version;
  const subpaths = Object.keys(pkg.exports)
    .filter((k) => k !== '.' && !k.endsWith('.json'))
    .map((k) => `rwkv${k.slice(1)}`)
    .join(',');
  let reference;
  for (const name of ['node', 'deno', 'bun']) {
    const exe = findRuntime(name);
    if (exe === undefined) {
      fail(`${name}: runtime not found (run npm ci)`);
      continue;
    }
    const env = { ...process.env, DENO_NO_UPDATE_CHECK: '1', DENO_NO_PROMPT: '1', DO_NOT_TRACK: '1', NO_COLOR: '1' };
    const script = (file, ...args) =>
      name === 'node'
        ? run(exe, [file, ...args], { cwd: app, env })
        : name === 'deno'
          ? run(exe, ['run', '-A', '--no-lock', file, ...args], { cwd: app, env })
          : run(exe, ['--no-install', file, ...args], { cwd: app, env });
    const t = Date.now();
    // the bin: on Node through the link npm made in node_modules/.bin (its shebang)
    const help = name === 'node' ? run(join(app, 'node_modules', '.bin', 'rwkv'), ['--help'], { cwd: app, env }) : script(bin, '--help');
    if (help.code !== 0 || !/forward/.test(help.out + help.err))
      fail(`${name}: rwkv --help (exit ${help.code}): ${help.err.slice(0, 500)}`);
    const ver = script(bin, '--version');
    if (ver.code !== 0 || !ver.out.includes(version))
      fail(`${name}: rwkv --version (exit ${ver.code}) printed ${JSON.stringify(ver.out + ver.err)}`);
    const fwd = script(bin, 'forward', '--model', model, '--tokens', tokens, '--json');
    let cliLogits;
    try {
      cliLogits = JSON.parse(fwd.out).logits;
    } catch {
      fail(`${name}: rwkv forward (exit ${fwd.code}): ${(fwd.err || fwd.out).slice(0, 500)}`);
    }
    // the ESM import
    const esm = script('check.mjs', model, tokens, subpaths);
    let apiLogits;
    try {
      apiLogits = JSON.parse(esm.out).logits;
    } catch {
      fail(`${name}: import 'rwkv' and forward (exit ${esm.code}): ${(esm.err || esm.out).slice(0, 500)}`);
    }
    const compare = (label, a, b) => {
      if (a === undefined || b === undefined) return;
      const d = maxAbsDiff(a, b);
      if (!(d <= LOGITS_ATOL)) fail(`${name}: ${label}: max |Δ| ${d} > ${LOGITS_ATOL}`);
    };
    compare('bin vs API logits', cliLogits, apiLogits);
    if (official !== undefined) compare('API vs official logits', apiLogits, official);
    if (name === 'node') reference = apiLogits;
    else compare('API logits vs Node', apiLogits, reference);
    console.log(`test-pack: ${name} (${exe}): bin and import checked in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }
} catch (e) {
  fail(e instanceof Error ? e.message : String(e));
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

const took = ((Date.now() - t0) / 1000).toFixed(1);
if (failures.length > 0) {
  console.error(`test-pack: FAIL (${failures.length}) in ${took} s`);
  process.exit(1);
}
console.log(`test-pack: PASS in ${took} s`);
