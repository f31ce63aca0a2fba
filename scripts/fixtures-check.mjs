#!/usr/bin/env node
// `npm run fixtures:check`: are the shared fixtures the ones the tests were written against?
// Compares size and sha256 of every file in fixtures/manifest.json with the copy under
// RWKV_FIXTURES (default ../shared/fixtures). Exit 1 on any difference or missing file.
// Not part of `npm test`: a regenerated fixture set is the maintainers' call, and the oracle
// tests themselves say whether our numbers still match it.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dir = resolve(root, process.env.RWKV_FIXTURES ?? '../shared/fixtures');
const manifest = JSON.parse(readFileSync(join(root, 'fixtures', 'manifest.json'), 'utf8'));
let bad = 0;
for (const f of manifest.files) {
  const p = join(dir, f.path);
  if (!existsSync(p)) {
    console.log(`MISSING  ${p}`);
    bad++;
    continue;
  }
  const bytes = readFileSync(p);
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (bytes.length !== f.bytes || sha !== f.sha256) {
    console.log(`CHANGED  ${f.path} (${bytes.length} bytes, sha256 ${sha.slice(0, 16)}…; manifest ${f.bytes}, ${f.sha256.slice(0, 16)}…)`);
    bad++;
  }
}
console.log(`${manifest.files.length - bad} passed, ${bad} failed (fixtures in ${dir})`);
process.exit(bad === 0 ? 0 : 1);
