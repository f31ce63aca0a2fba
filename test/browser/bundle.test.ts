// The browser build without a browser (runs everywhere, CI included): scripts/build-browser.mjs
// bundles src/browser.ts with the platform twins and no Node module; the bundle, imported as a
// plain ES module, runs a fixture model from bytes on its WASM backend (one thread: its workers
// are Web Workers, tested in chromium.test.ts) and refuses file paths with a typed error.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, fixturePath, readOracle } from '../helpers/fixtures.ts';
import { LOGITS_ORACLE_ATOL, expectClose } from '../helpers/tolerance.ts';

/** The modules the browser build must take from their .browser.ts twins. */
const TWINS = ['src/platform/files.ts', 'src/backends/wasm/threads.ts', 'src/backends/cuda/index.ts'];

describe('browser build (bundle)', () => {
  let dir = '';
  let outfile = '';
  let inputs: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rwkv-bundle-'));
    outfile = join(dir, 'rwkv.js');
    // @ts-expect-error: a plain .mjs build script without type declarations
    const { buildBrowser } = await import('../../scripts/build-browser.mjs');
    const result = await buildBrowser({ outfile });
    inputs = Object.keys(result.metafile.inputs as Record<string, unknown>).map((p) => relative(REPO_ROOT, join(REPO_ROOT, p)));
  }, 60_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('takes every platform twin, and no Node module or CUDA code', () => {
    for (const t of TWINS) {
      expect(inputs, t).toContain(t.replace(/\.ts$/, '.browser.ts'));
      expect(inputs, t).not.toContain(t);
    }
    expect(inputs.filter((p) => p.startsWith('node:'))).toEqual([]);
    // of the CUDA folder only the twin and the registry entry (a name and a help line; its create
    // imports the twin) are bundled
    expect(inputs.filter((p) => p.startsWith('src/backends/cuda/') && !p.endsWith('.browser.ts') && !p.endsWith('/entry.ts'))).toEqual([]);
    expect(inputs).toContain('src/backends/cuda/entry.ts');
    expect(inputs.filter((p) => p.startsWith('src/hub/') || p === 'src/convert/convert.ts' || p === 'src/tokenizer/select.ts')).toEqual([]);
    const text = readFileSync(outfile, 'utf8');
    expect(text).not.toMatch(/\bfrom\s*["']node:|\brequire\(["']/);
  });

  it('exports the names of src/browser.ts (test/architecture/exports.test.ts lists them)', async () => {
    const bundle = await import(pathToFileURL(outfile).href);
    const source = await import('../../src/browser.ts');
    expect(Object.keys(bundle).sort()).toEqual(Object.keys(source).sort());
  });

  it('runs a fixture model from bytes on its WASM backend and refuses paths with PLATFORM_UNAVAILABLE', async (ctx) => {
    const oracle = readOracle('oracle/tiny-rwkv-7v0-834K.json');
    const file = oracle?.weight_sets['fp32']?.files[0];
    const path = file === undefined ? undefined : fixturePath(file);
    const rwkv = await import(pathToFileURL(outfile).href);
    await expect(rwkv.RwkvModel.load('model.bin')).rejects.toMatchObject({ code: 'PLATFORM_UNAVAILABLE', file: 'model.bin' });
    await expect(rwkv.createBackend('cuda')).rejects.toMatchObject({ code: 'CUDA_UNAVAILABLE' });
    if (oracle === undefined || path === undefined) return ctx.skip();
    const backend = await rwkv.WasmBackend.create({ threads: 1 });
    try {
      const model = await rwkv.RwkvModel.fromBytes(readFileSync(path), { name: file, backend, weights: 'f32' });
      expect(model.source).toEqual({ file, format: 'rwkv.cpp' });
      for (const p of oracle.prompts) {
        const { logits } = await model.forward(p.tokens, model.createState());
        expectClose(`bundle: ${oracle.model} ${p.name}`, logits as Float32Array, p.results['fp32']!.seq_logits, LOGITS_ORACLE_ATOL);
      }
      model.dispose();
    } finally {
      await backend.dispose();
    }
  });
});
