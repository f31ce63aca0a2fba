#!/usr/bin/env node
// Bundles the browser build: src/browser.ts → dist/browser/rwkv.js, one ES module (the WASM
// kernels are inside it, as base64), for <script type="module">, import maps and bundlers.
//
// Platform twins: where a module `X.ts` has a sibling `X.browser.ts`, the bundle takes the twin
// (src/platform/files.browser.ts: no files by path; src/backends/wasm/threads.browser.ts: Web
// Workers; src/backends/cuda/index.browser.ts: no CUDA). Any `node:` import still reachable
// fails the build, naming the module that imports it: what ships to browsers never asks for
// Node. Run by `npm run build` (after build-wasm); `buildBrowser()` is used by the tests.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const BROWSER_ENTRY = join(ROOT, 'src', 'browser.ts');
export const BROWSER_OUT = join(ROOT, 'dist', 'browser', 'rwkv.js');

/** esbuild plugin: platform twins, and no node: modules. */
export const browserTwins = {
  name: 'rwkv-browser-twins',
  setup(build) {
    build.onResolve({ filter: /^node:|^(fs|os|path|url|crypto|worker_threads|child_process)(\/|$)/ }, (args) => ({
      errors: [
        {
          text: `${args.path} is imported by ${args.importer.replace(`${ROOT}/`, '')}: the browser build must not reach Node modules (give that module a .browser.ts twin)`,
        },
      ],
    }));
    build.onResolve({ filter: /^\.\.?\/.*\.ts$/ }, (args) => {
      const path = resolve(args.resolveDir, args.path);
      const twin = path.replace(/\.ts$/, '.browser.ts');
      return { path: existsSync(twin) ? twin : path };
    });
  },
};

/** Bundle src/browser.ts (or `entry`) to `outfile`; returns esbuild's result (metafile included). */
export async function buildBrowser({ entry = BROWSER_ENTRY, outfile = BROWSER_OUT, minify = false } = {}) {
  mkdirSync(dirname(outfile), { recursive: true });
  return esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify,
    sourcemap: true,
    metafile: true,
    legalComments: 'none',
    logLevel: 'silent',
    plugins: [browserTwins],
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const r = await buildBrowser();
    const bytes = Object.values(r.metafile.outputs).find((o) => o.entryPoint !== undefined)?.bytes ?? 0;
    console.log(`browser: ${BROWSER_OUT.replace(`${ROOT}/`, '')} ${bytes} bytes`);
  } catch (e) {
    for (const m of e.errors ?? [])
      console.error(`browser build: ${m.text}${m.location ? ` (${m.location.file}:${m.location.line})` : ''}`);
    if (!e.errors) console.error(e);
    process.exit(1);
  }
}
