// The browser build (dist/browser/rwkv.js, scripts/build-browser.mjs) in a real browser: headless
// Chromium, driven by playwright-core, loads the bundle from a localhost server with no file or
// network access beyond it, and runs every tiny fixture model on the WASM backend against the
// official implementation's logits, on two pages:
//   - cross-origin isolated (COOP + COEP headers): shared memory, 2 threads (Web Workers);
//   - a module Web Worker of the isolated page running the model itself (nested pool workers);
//   - a plain page: no shared memory, so the plain-memory build on one thread.
// Plus the World tokenizer's public cases and the typed error for a path in a page.
//
// Needs Chromium: $RWKV_CHROMIUM, else /usr/bin/chromium (Debian's `chromium` package; .ci/run
// installs it where it can). Without it the test skips with a loud message. Runs under Node only
// (playwright-core drives the browser from Node; the page is the runtime under test).

import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, normalize, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_ARGS, CHROMIUM_CANDIDATES, findChromium } from '../helpers/chromium.ts';
import { FIXTURES_DIR, TINY_MODELS, fixturePath, readOracle } from '../helpers/fixtures.ts';
import { LOGITS_ORACLE_ATOL, expectClose } from '../helpers/tolerance.ts';

const chromiumPath = findChromium();
const isNode = !('Deno' in globalThis) && process.versions['bun'] === undefined;

if (isNode && chromiumPath === undefined) {
  console.warn(
    `\n!!!!!!!! SKIPPING: the browser test: no Chromium at ${CHROMIUM_CANDIDATES.join(', ')}\n` +
      "!!!!!!!! install Debian's `chromium` package, or set RWKV_CHROMIUM to a Chromium/Chrome binary\n",
  );
}

/** The test page: imports the bundle as a page would, and hands it to the test. */
const PAGE = `<!doctype html><title>rwkv</title>
<script type="module">import * as rwkv from '/rwkv.js'; globalThis.rwkv = rwkv;</script>`;

/**
 * A module worker of the page that runs a model itself (as docs/browser.md advises for a
 * responsive page): its own pool workers are nested workers, and its thread may Atomics.wait.
 */
const WORKER = `import * as rwkv from '/rwkv.js';
self.onmessage = async (e) => {
  try {
    const { url, tokens, threads } = e.data;
    const backend = await rwkv.WasmBackend.create({ threads });
    const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
    const model = await rwkv.RwkvModel.fromBytes(bytes, { name: url, backend, weights: 'f32' });
    const { logits } = await model.forward(tokens);
    model.dispose();
    const [T, K, O] = [8, 1024, 2048];
    const W = backend.upload(new Float32Array(O * K).fill(0.25), [O, K], 'W');
    const x = backend.upload(new Float32Array(T * K).fill(0.5), [T, K], 'x');
    const y = backend.zeros([T, O], 'y');
    for (let i = 0; i < 4; i++) backend.matmul(y, x, W);
    const stats = backend.threadStats();
    await backend.dispose();
    self.postMessage({ ok: true, logits: Array.from(logits), isolated: self.crossOriginIsolated, stats });
  } catch (err) {
    self.postMessage({ ok: false, error: String((err && err.stack) || err) });
  }
};
`;

interface ModelCase {
  model: string;
  url: string;
  prompts: { name: string; tokens: number[]; seq: number[]; greedy: number[] }[];
}

/** What the page reports for one model. */
interface PageModelResult {
  model: string;
  backend: string;
  threads: number;
  variant: string;
  prompts: { name: string; logits: number[]; greedy: number[] }[];
}

interface PageResult {
  isolated: boolean;
  shared: boolean;
  auto: string;
  models: PageModelResult[];
  /** backend.threadStats() after the models and one large product. */
  threadStats: { threads: number; workerChunks: number };
  tokens: { id: string; tokens: number[]; roundTrip: boolean }[];
  pathError: string;
}

/** The page side (serialised by playwright: no closures over test-file values). */
async function inPage(args: {
  models: ModelCase[];
  vocabUrl: string;
  threads: number;
  cases: { id: string; text: string }[];
}): Promise<PageResult> {
  // the page imported the bundle (a module script) and put it on globalThis.rwkv
  // biome-ignore lint/suspicious/noExplicitAny: the page put the bundle on globalThis
  const rwkv = (globalThis as any).rwkv;
  const out: PageResult = {
    isolated: (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true,
    shared: rwkv.sharedMemoryAvailable(),
    auto: '',
    models: [],
    threadStats: { threads: 0, workerChunks: 0 },
    tokens: [],
    pathError: '',
  };
  const auto = await rwkv.createBackend('auto');
  out.auto = auto.caps.name;
  await auto.dispose?.();
  const backend = await rwkv.WasmBackend.create({ threads: args.threads });
  try {
    for (const m of args.models) {
      const bytes = new Uint8Array(await (await fetch(m.url)).arrayBuffer());
      const model = await rwkv.RwkvModel.fromBytes(bytes, { name: m.url, backend, weights: 'f32' });
      const r: PageModelResult = {
        model: m.model,
        backend: backend.caps.name,
        threads: backend.caps.threads,
        variant: backend.caps.variant,
        prompts: [],
      };
      for (const p of m.prompts) {
        const state = model.createState();
        const logits = (await model.forward(p.tokens, state)).logits as Float32Array;
        const greedy: number[] = [];
        let l = logits;
        for (let i = 0; i < p.greedy.length; i++) {
          // greedy: the first largest logit (the sampler's argmax is in rwkv/generate, not in
          // the browser build)
          let tok = 0;
          for (let j = 1; j < l.length; j++) if (l[j]! > l[tok]!) tok = j;
          greedy.push(tok);
          if (i + 1 < p.greedy.length) l = (await model.forward([tok], state)).logits;
        }
        r.prompts.push({ name: p.name, logits: Array.from(logits), greedy });
      }
      model.dispose();
      out.models.push(r);
    }
    // one product large enough to be split over the threads (8 × 1024 · 1024 × 2048)
    const [T, K, O] = [8, 1024, 2048];
    const W = backend.upload(new Float32Array(O * K).fill(0.25), [O, K], 'W');
    const x = backend.upload(new Float32Array(T * K).fill(0.5), [T, K], 'x');
    const y = backend.zeros([T, O], 'y');
    for (let i = 0; i < 4; i++) backend.matmul(y, x, W);
    const yv = await backend.download(y);
    if (yv.some((v: number) => v !== 128)) throw new Error(`large product wrong: ${yv.find((v: number) => v !== 128)} instead of 128`);
    for (const t of [W, x, y]) backend.free(t);
    out.threadStats = backend.threadStats();
  } finally {
    await backend.dispose();
  }
  const tokenizer = rwkv.WorldTokenizer.fromFileText(await (await fetch(args.vocabUrl)).text(), args.vocabUrl);
  for (const c of args.cases) {
    const tokens = tokenizer.encode(c.text);
    out.tokens.push({ id: c.id, tokens, roundTrip: tokenizer.decode(tokens) === c.text });
  }
  try {
    await rwkv.RwkvModel.load('/models/model.bin');
    out.pathError = 'no error';
  } catch (e) {
    out.pathError = `${(e as { code?: string }).code}: ${(e as Error).message}`;
  }
  return out;
}

describe.runIf(isNode && chromiumPath !== undefined)('browser build in headless Chromium', () => {
  let server: Server;
  let origin = '';
  let outDir = '';
  let browser: import('playwright-core').Browser;
  const models: ModelCase[] = [];
  const publicCases = fixturePath('tokenizer-world-public.json');
  const vocab = fixturePath('rwkv_vocab_v20230424.txt');

  beforeAll(async () => {
    for (const m of TINY_MODELS) {
      const oracle = readOracle(`oracle/tiny-rwkv-${m}.json`);
      const file = oracle?.weight_sets['fp32']?.files[0];
      if (oracle === undefined || file === undefined || fixturePath(file) === undefined) continue;
      models.push({
        model: oracle.model,
        url: `/fixtures/${file}`,
        prompts: oracle.prompts.map((p) => ({
          name: p.name,
          tokens: p.tokens,
          seq: p.results['fp32']!.seq_logits,
          greedy: p.results['fp32']!.greedy_tokens,
        })),
      });
    }
    outDir = mkdtempSync(join(tmpdir(), 'rwkv-browser-'));
    // @ts-expect-error: a plain .mjs build script without type declarations
    const { buildBrowser } = await import('../../scripts/build-browser.mjs');
    await buildBrowser({ outfile: join(outDir, 'rwkv.js') });
    const bundle = readFileSync(join(outDir, 'rwkv.js'));
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const headers: Record<string, string> = {};
      // the isolated page and everything it loads: COOP + COEP (and same-origin resources)
      if (url.pathname === '/isolated.html' || req.headers['referer']?.includes('/isolated.html')) {
        headers['Cross-Origin-Opener-Policy'] = 'same-origin';
        headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
      }
      headers['Cross-Origin-Resource-Policy'] = 'same-origin';
      if (url.pathname === '/isolated.html' || url.pathname === '/plain.html') {
        res.writeHead(200, { ...headers, 'content-type': 'text/html' }).end(PAGE);
      } else if (url.pathname === '/worker.js') {
        res
          .writeHead(200, {
            'Cross-Origin-Embedder-Policy': 'require-corp',
            'Cross-Origin-Resource-Policy': 'same-origin',
            'content-type': 'text/javascript',
          })
          .end(WORKER);
      } else if (url.pathname === '/rwkv.js') {
        res.writeHead(200, { ...headers, 'content-type': 'text/javascript' }).end(bundle);
      } else if (url.pathname.startsWith('/fixtures/')) {
        const p = normalize(join(FIXTURES_DIR, decodeURIComponent(url.pathname.slice('/fixtures/'.length))));
        if (!p.startsWith(FIXTURES_DIR + sep) || !existsSync(p)) res.writeHead(404).end();
        else res.writeHead(200, { ...headers, 'content-type': 'application/octet-stream' }).end(readFileSync(p));
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    origin = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: chromiumPath!, args: [...CHROMIUM_ARGS] });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  async function runPage(page: 'isolated' | 'plain', threads: number): Promise<PageResult> {
    const p = await browser.newPage();
    const errors: string[] = [];
    p.on('pageerror', (e) => errors.push(e.message));
    try {
      await p.goto(`${origin}/${page}.html`);
      await p.waitForFunction(() => 'rwkv' in globalThis, undefined, { timeout: 30_000 });
      const cases = publicCases ? (JSON.parse(readFileSync(publicCases, 'utf8')) as { cases: { id: string; text: string }[] }).cases : [];
      const result = await p.evaluate(inPage, {
        models: models.map(({ model, url, prompts }) => ({
          model,
          url,
          prompts: prompts.map(({ name, tokens, greedy }) => ({ name, tokens, greedy, seq: [] })),
        })),
        vocabUrl: '/fixtures/rwkv_vocab_v20230424.txt',
        threads,
        cases: vocab ? cases.map(({ id, text }) => ({ id, text })) : [],
      });
      expect(errors, 'uncaught errors in the page').toEqual([]);
      return result;
    } finally {
      await p.close();
    }
  }

  function checkModels(result: PageResult, threads: number): void {
    expect(result.models.map((m) => m.model)).toEqual(models.map((m) => m.model));
    for (const [i, m] of result.models.entries()) {
      expect(m.backend).toBe('wasm');
      expect(m.threads).toBe(threads);
      // Chromium has relaxed SIMD: the relaxed build, after its check against the portable one
      expect(m.variant).toBe('relaxed');
      for (const [j, p] of m.prompts.entries()) {
        const want = models[i]!.prompts[j]!;
        expectClose(`${m.model} ${p.name} in Chromium (${threads} thread(s))`, p.logits, want.seq, LOGITS_ORACLE_ATOL);
        expect(p.greedy, `${m.model} ${p.name} greedy tokens`).toEqual(want.greedy);
      }
    }
  }

  function checkTokens(result: PageResult): void {
    if (publicCases === undefined || vocab === undefined) return;
    const want = (JSON.parse(readFileSync(publicCases, 'utf8')) as { cases: { id: string; tokens: number[] }[] }).cases;
    expect(result.tokens.map((t) => t.id)).toEqual(want.map((c) => c.id));
    for (const [i, t] of result.tokens.entries()) {
      expect(t.tokens, `World tokenizer case ${t.id}`).toEqual(want[i]!.tokens);
      expect(t.roundTrip, `World tokenizer round trip ${t.id}`).toBe(true);
    }
  }

  it('cross-origin isolated page: shared memory, 2 threads, the official logits', async () => {
    const r = await runPage('isolated', 2);
    expect(r.isolated).toBe(true);
    expect(r.shared).toBe(true);
    expect(r.auto).toBe('wasm');
    checkModels(r, 2);
    // the Web Workers really took part of the products
    expect(r.threadStats.threads).toBe(2);
    expect(r.threadStats.workerChunks).toBeGreaterThan(0);
    checkTokens(r);
    expect(r.pathError).toMatch(/^PLATFORM_UNAVAILABLE: /);
  }, 120_000);

  it('in a module Web Worker of an isolated page: nested pool workers, the official logits', async (ctx) => {
    const m = models.find((c) => c.model === 'tiny-rwkv-7v0-834K') ?? models[0];
    if (m === undefined) return ctx.skip(); // fixtures missing: fixturePath said so
    const prompt = m.prompts[m.prompts.length - 1]!;
    const p = await browser.newPage();
    try {
      await p.goto(`${origin}/isolated.html`);
      const reply = await p.evaluate(
        ({ url, tokens }) =>
          new Promise<{
            ok: boolean;
            error?: string;
            logits: number[];
            isolated: boolean;
            stats: { threads: number; workerChunks: number };
          }>((resolve) => {
            const w = new (
              globalThis as unknown as {
                Worker: new (
                  u: string,
                  o: object,
                ) => { onmessage: (e: { data: never }) => void; onerror: (e: { message: string }) => void; postMessage(d: unknown): void };
              }
            ).Worker('/worker.js', { type: 'module' });
            w.onmessage = (e) => resolve(e.data);
            w.onerror = (e) =>
              resolve({
                ok: false,
                error: `worker error: ${e.message}`,
                logits: [],
                isolated: false,
                stats: { threads: 0, workerChunks: 0 },
              });
            w.postMessage({ url, tokens, threads: 2 });
          }),
        { url: m.url, tokens: prompt.tokens },
      );
      expect(reply.error).toBeUndefined();
      expect(reply.ok).toBe(true);
      expect(reply.isolated).toBe(true);
      expect(reply.stats.threads).toBe(2);
      expect(reply.stats.workerChunks).toBeGreaterThan(0);
      expectClose(`${m.model} ${prompt.name} in a Web Worker`, reply.logits, prompt.seq, LOGITS_ORACLE_ATOL);
    } finally {
      await p.close();
    }
  }, 120_000);

  it('plain page: no shared memory, one thread on the plain-memory build, the official logits', async () => {
    const r = await runPage('plain', 1);
    expect(r.isolated).toBe(false);
    expect(r.shared).toBe(false);
    expect(r.auto).toBe('wasm');
    checkModels(r, 1);
    expect(r.threadStats).toEqual({ threads: 1, workerChunks: 0 });
    expect(r.pathError).toMatch(/^PLATFORM_UNAVAILABLE: /);
  }, 120_000);
});
