// Browser benchmark: `rwkv bench`'s model and timing (src/bench/bench.ts) in headless Chromium,
// beside the same run in Node, in one process and one run, so the ratio compares like with like.
//
//   npx tsx bench/browser/run.ts [--shape 0.1B] [--strategy "wasm fp32"] [--decode 32]
//                                [--prefill 128] [--runs 3] [--threads 2]
//   (npm run bench:browser -- …)
//
// Four configurations, one after the other, each on its own random model (same seed, so the same
// weights): Node with --threads threads; Chromium on a cross-origin isolated page (shared
// memory, Web Workers) with --threads threads; Node with 1 thread; Chromium on a plain page
// (no shared memory: the plain-memory build, 1 thread). Each prints decode and prefill tok/s
// (medians of --runs runs) and the ratio to Node with the same thread count.
//
// Needs Chromium ($RWKV_CHROMIUM, else /usr/bin/chromium: Debian's `chromium` package).

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { type BenchResult, parseShape, runBench, runtimeName } from '../../src/bench/bench.ts';
import { CHROMIUM_ARGS, findChromium } from '../../test/helpers/chromium.ts';
// @ts-expect-error: a plain .mjs build script without type declarations
import { buildBrowser } from '../../scripts/build-browser.mjs';

const { values: v } = parseArgs({
  options: {
    shape: { type: 'string', default: '0.1B' },
    strategy: { type: 'string', default: 'wasm fp32' },
    decode: { type: 'string', default: '32' },
    prefill: { type: 'string', default: '128' },
    runs: { type: 'string', default: '3' },
    threads: { type: 'string', default: '2' },
  },
});
const shapeName = v.shape!;
const strategy = v.strategy!;
const [decode, prefill, runs, threads] = [v.decode, v.prefill, v.runs, v.threads].map(Number) as [number, number, number, number];

const chromiumPath = findChromium();
if (chromiumPath === undefined) {
  console.error("bench:browser needs Chromium: install Debian's `chromium` package or set RWKV_CHROMIUM");
  process.exit(1);
}

const dir = mkdtempSync(join(tmpdir(), 'rwkv-bench-browser-'));
await buildBrowser({ entry: join(import.meta.dirname, 'page.ts'), outfile: join(dir, 'page.js'), minify: true });
const pageJs = readFileSync(join(dir, 'page.js'));
const HTML = '<!doctype html><title>rwkv bench</title><script type="module" src="/page.js"></script>';
const server = createServer((req, res) => {
  const isolated = req.url === '/isolated.html' || (req.headers['referer'] ?? '').endsWith('/isolated.html');
  const h: Record<string, string> = isolated
    ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' }
    : {};
  if (req.url === '/page.js') res.writeHead(200, { ...h, 'content-type': 'text/javascript' }).end(pageJs);
  else if (req.url === '/isolated.html' || req.url === '/plain.html') res.writeHead(200, { ...h, 'content-type': 'text/html' }).end(HTML);
  else res.writeHead(404).end();
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as { port: number }).port;
const browser = await chromium.launch({
  executablePath: chromiumPath,
  args: [...CHROMIUM_ARGS],
});
const version = browser.version();

const options = { shape: parseShape(shapeName), strategy, prefill, decode, runs, seed: 1 };
const log = (s: string) => console.error(s);

async function inChromium(page: 'isolated' | 'plain', t: number): Promise<BenchResult> {
  const p = await browser.newPage();
  p.setDefaultTimeout(0);
  try {
    await p.goto(`http://127.0.0.1:${port}/${page}.html`);
    await p.waitForFunction(() => 'rwkvBench' in globalThis);
    return await p.evaluate(
      async ({ o, t }) => {
        // biome-ignore lint/suspicious/noExplicitAny: the page put the bundle on globalThis
        const b = (globalThis as any).rwkvBench;
        return b.runBench({ ...o, shape: b.parseShape(o.shape), threads: t });
      },
      { o: { ...options, shape: shapeName }, t },
    );
  } finally {
    await p.close();
  }
}

const rows: { name: string; r: BenchResult; base?: BenchResult }[] = [];
try {
  for (const t of threads > 1 ? [threads, 1] : [1]) {
    log(`  node, ${t} thread(s) …`);
    const node = await runBench({ ...options, threads: t, log });
    rows.push({ name: `node, ${t} thread${t > 1 ? 's' : ''}`, r: node });
    const page = t > 1 ? 'isolated' : 'plain';
    log(`  chromium ${page} page, ${t} thread(s) …`);
    const web = await inChromium(page, t);
    rows.push({
      name: `chromium, ${page === 'isolated' ? 'cross-origin isolated' : 'plain'} page, ${t} thread${t > 1 ? 's' : ''}`,
      r: web,
      base: node,
    });
  }
} finally {
  await browser.close();
  server.close();
  rmSync(dir, { recursive: true, force: true });
}

const cpu = cpus();
console.log(`# Browser benchmark (${new Date().toISOString().slice(0, 10)})\n`);
console.log(`${runtimeName()} and Chromium ${version}, ${cpu[0]?.model ?? '?'} × ${cpu.length}`);
console.log(`shape ${shapeName}, strategy "${strategy}", decode ${decode} tokens, prefill ${prefill} tokens, medians of ${runs} runs\n`);
console.log('| engine | decode tok/s | × node | prefill tok/s | × node |');
console.log('|---|---:|---:|---:|---:|');
for (const { name, r, base } of rows) {
  const d = r.decode.tokPerSec;
  const p = r.prefill?.tokPerSec ?? NaN;
  const dx = base ? (d / base.decode.tokPerSec).toFixed(2) : '1';
  const px = base ? (p / (base.prefill?.tokPerSec ?? NaN)).toFixed(2) : '1';
  console.log(`| ${name} | ${d.toFixed(1)} | ${dx} | ${p.toFixed(1)} | ${px} |`);
}
