// The layers of src/ point one way. Every import in src/ (static, `export … from`, and dynamic
// `import()`) is parsed and its folder-to-folder edge checked against LAYERS below: a module may
// import its own folder and the folders its layer lists, nothing else. docs/architecture.md draws
// the same table. Adding an edge is a design decision: change LAYERS and the doc together.

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = normalize(join(dirname(fileURLToPath(import.meta.url)), '..', '..'));

/**
 * Each unit of src/ and what it may import (besides itself). A unit is a folder under src/ or a
 * top-level file of src/ (without .ts). The entry points (api, index, browser, entries, bin) sit on top.
 */
const LAYERS: Record<string, readonly string[]> = {
  errors: [],
  // the numeric constants are the reference's, named once (reference/common/constants.ts)
  constants: ['reference'],
  types: [],
  tensor: ['errors'],
  platform: ['errors'],
  util: ['errors'],
  io: ['errors', 'constants', 'tensor', 'platform'],
  backends: ['errors', 'constants', 'tensor', 'platform'],
  strategy: ['errors', 'backends'],
  model: ['errors', 'constants', 'tensor', 'platform', 'io', 'backends', 'strategy'],
  state: ['errors', 'tensor', 'io', 'model'],
  tokenizer: ['errors', 'platform', 'io'],
  generate: ['errors', 'model', 'state', 'tokenizer'],
  hub: ['errors', 'platform'],
  convert: ['errors', 'tensor', 'io', 'model'],
  bench: ['errors', 'tensor', 'backends', 'strategy', 'model', 'generate', 'util'],
  cli: [
    'errors',
    'constants',
    'tensor',
    'platform',
    'util',
    'io',
    'backends',
    'strategy',
    'model',
    'state',
    'tokenizer',
    'generate',
    'hub',
    'convert',
    'bench',
  ],
  api: ['*'],
  index: ['*'],
  browser: ['*'],
  // the subpath entries of package.json (rwkv/formats, rwkv/generate, …)
  entries: ['*'],
  bin: ['cli'],
};

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (/\.ts$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Relative specifiers of every import, re-export and dynamic import in a source file. */
function importsOf(source: string): string[] {
  const specs: string[] = [];
  const re =
    /(?:^|[\s;])(?:import|export)\s[^;]*?\sfrom\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s*['"]([^'"]+)['"]/gm;
  for (const m of source.matchAll(re)) specs.push((m[1] ?? m[2] ?? m[3])!);
  return specs.filter((s) => s.startsWith('.'));
}

/** The unit of a repository path: 'reference' for reference/…, the folder or file name under src/. */
function unitOf(path: string): string {
  const parts = relative(ROOT, path).split(/[\\/]/);
  if (parts[0] !== 'src') return parts[0]!;
  return parts.length > 2 ? parts[1]! : parts[1]!.replace(/(\.browser)?\.ts$/, '');
}

const files = walk(join(ROOT, 'src'));
const edges = files.flatMap((file) =>
  importsOf(readFileSync(file, 'utf8')).map((spec) => ({
    file: relative(ROOT, file),
    spec,
    from: unitOf(file),
    to: unitOf(normalize(join(dirname(file), spec))),
  })),
);

describe('layers', () => {
  it('the import parser sees static, re-export, type-only and dynamic imports', () => {
    const src = [
      "import { a } from './a.ts';",
      "import type { B } from '../b/b.ts';",
      "export * from './c.ts';",
      "export { d } from './d.ts';",
      "const e = await import('./e.ts');",
      "import './f.ts';",
      "import { g } from 'node:fs';",
    ].join('\n');
    expect(importsOf(src)).toEqual(['./a.ts', '../b/b.ts', './c.ts', './d.ts', './e.ts', './f.ts']);
  });

  it('every unit of src/ is in the layer table', () => {
    const units = [...new Set(files.map(unitOf))].sort();
    expect(units.filter((u) => !(u in LAYERS))).toEqual([]);
    expect(edges.length).toBeGreaterThan(100);
  });

  it('src/ imports only the intended folder-to-folder edges', () => {
    const bad = edges
      .filter((e) => e.from !== e.to)
      .filter((e) => {
        const allowed = LAYERS[e.from] ?? [];
        return !allowed.includes('*') && !allowed.includes(e.to);
      })
      .map((e) => `${e.file} imports ${e.spec} (${e.from} → ${e.to})`);
    expect(bad).toEqual([]);
  });

  it("only src/backends/ reaches into a backend's own folder; the rest of src/ goes through the registry", () => {
    // src/backends/registry.ts and select.ts make backends by name, so a new backend is its folder
    // and one registry line. The exceptions are public entry points that export a backend class
    // for users who construct one with its own options.
    const exceptions = ['src/browser.ts', 'src/entries/backends.ts'];
    const bad = edges
      .filter((e) => e.from !== 'backends' && !exceptions.includes(e.file))
      .filter((e) =>
        /^src\/backends\/[^/]+\//.test(relative(ROOT, normalize(join(dirname(join(ROOT, e.file)), e.spec))).replaceAll('\\', '/')),
      )
      .map((e) => `${e.file} imports ${e.spec}`);
    expect(bad).toEqual([]);
  });

  it('reference/ stands alone: it imports nothing from src/', () => {
    const bad = walk(join(ROOT, 'reference')).flatMap((file) =>
      importsOf(readFileSync(file, 'utf8'))
        .filter((spec) => unitOf(normalize(join(dirname(file), spec))) !== 'reference')
        .map((spec) => `${relative(ROOT, file)} imports ${spec}`),
    );
    expect(bad).toEqual([]);
  });

  it('no two files of src/ import each other, directly or through a cycle', () => {
    const graph = new Map<string, string[]>();
    for (const e of edges) {
      const target = relative(ROOT, normalize(join(dirname(join(ROOT, e.file)), e.spec)));
      graph.set(e.file, [...(graph.get(e.file) ?? []), target]);
    }
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (f: string): void => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        cycles.push([...stack.slice(stack.indexOf(f)), f].join(' → '));
        return;
      }
      state.set(f, 'open');
      stack.push(f);
      for (const t of graph.get(f) ?? []) visit(t);
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of graph.keys()) visit(f);
    expect(cycles).toEqual([]);
  });
});
