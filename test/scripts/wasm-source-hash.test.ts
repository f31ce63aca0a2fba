// The stale-WASM guard (scripts/wasm-source-hash.mjs, test/helpers/wasm-fresh.ts) on a copy of
// the kernel sources: the hash follows every byte and every path, and the guard names the fix.

import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { wasmSourceFiles, wasmSourceSha256 } from '../../scripts/wasm-source-hash.mjs';
import { REPO_ROOT } from '../helpers/fixtures.ts';
import { WASM_BINARY_FILE, wasmBinaryProblem } from '../helpers/wasm-fresh.ts';

describe('the WASM binary carries the hash of assembly/, and a stale one is refused', () => {
  const root = mkdtempSync(join(tmpdir(), 'rwkv-wasm-hash-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  cpSync(join(REPO_ROOT, 'assembly'), join(root, 'assembly'), { recursive: true });
  cpSync(join(REPO_ROOT, 'asconfig.json'), join(root, 'asconfig.json'));
  mkdirSync(join(root, 'src/backends/wasm'), { recursive: true });
  const writeBinary = (sha: string) =>
    writeFileSync(join(root, WASM_BINARY_FILE), `// test copy\nexport const ASSEMBLY_SHA256 = '${sha}';\nexport const X = '';\n`);

  it('this checkout: the binary was built from the current sources', () => {
    expect(wasmBinaryProblem(REPO_ROOT)).toBeUndefined();
  });

  it('hashes every file under assembly/ and asconfig.json', () => {
    const files = wasmSourceFiles(root);
    expect(files).toContain('asconfig.json');
    expect(files).toContain('assembly/index.ts');
    expect(files.some((f) => f.startsWith('assembly/kernels/'))).toBe(true);
    expect(wasmSourceSha256(root)).toBe(wasmSourceSha256(REPO_ROOT));
  });

  it('one edited byte, or a renamed file, makes the binary stale, with the command to rebuild', () => {
    const fresh = wasmSourceSha256(root);
    writeBinary(fresh);
    expect(wasmBinaryProblem(root)).toBeUndefined();

    const kernel = join(root, 'assembly/index.ts');
    const original = readFileSync(kernel);
    const edited = Uint8Array.from(original);
    edited[edited.length >> 1]! ^= 1;
    writeFileSync(kernel, edited);
    expect(wasmSourceSha256(root)).not.toBe(fresh);
    expect(wasmBinaryProblem(root)).toMatch(/WASM binary is stale.*npm run build:wasm/);
    writeFileSync(kernel, original);
    expect(wasmBinaryProblem(root)).toBeUndefined();

    renameSync(kernel, join(root, 'assembly/index2.ts'));
    expect(wasmBinaryProblem(root)).toMatch(/stale/);
    renameSync(join(root, 'assembly/index2.ts'), kernel);
    expect(wasmBinaryProblem(root)).toBeUndefined();
  });

  it('a binary without a hash, or no binary, is refused too', () => {
    writeFileSync(join(root, WASM_BINARY_FILE), "export const X = '';\n");
    expect(wasmBinaryProblem(root)).toMatch(/no source hash.*npm run build:wasm/);
    rmSync(join(root, WASM_BINARY_FILE));
    expect(wasmBinaryProblem(root)).toMatch(/missing.*npm run build:wasm/);
  });
});
