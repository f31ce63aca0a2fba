// Native import smoke test: imports every entry point listed in package.json "exports", from
// source (./dist/src/index.js -> ./src/index.ts), with the runtime's own module loader and no
// bundler in between. Deno and Bun load the .ts files natively; Node 20 needs `--import tsx`.
// vitest transforms files through vite, which forgives things the runtimes do not (a `.js`
// specifier for a `.ts` file, for instance, is refused by Deno), so this catches what the
// vitest runs cannot.
import { readFileSync } from 'node:fs';

const root = new URL('../../', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));

const entries = [];
for (const [sub, target] of Object.entries(pkg.exports ?? {})) {
  // the source of an entry: its declarations' path (./dist/src/x.d.ts -> src/x.ts), which also
  // names the source of a bundled entry (./browser: dist/browser/rwkv.js from src/browser.ts)
  const types = typeof target === 'string' ? undefined : target?.types;
  if (typeof types === 'string' && types.startsWith('./dist/') && types.endsWith('.d.ts')) {
    entries.push([sub, types.slice('./dist/'.length).replace(/\.d\.ts$/, '.ts')]);
    continue;
  }
  const file = typeof target === 'string' ? target : (target?.default ?? target?.import);
  if (typeof file !== 'string' || !file.startsWith('./dist/') || !file.endsWith('.js')) continue;
  entries.push([sub, file.slice('./dist/'.length).replace(/\.js$/, '.ts')]);
}
if (entries.length === 0) {
  console.error('smoke: no entry points found in package.json "exports"');
  process.exit(1);
}

let failed = 0;
for (const [sub, src] of entries) {
  try {
    const mod = await import(new URL(src, root).href);
    const names = Object.keys(mod);
    if (names.length === 0) throw new Error('module has no exports');
    console.log(`smoke: ok   ${sub} (${src}): ${names.length} exports`);
  } catch (e) {
    failed++;
    console.error(`smoke: FAIL ${sub} (${src}): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  }
}
process.exit(failed === 0 ? 0 : 1);
