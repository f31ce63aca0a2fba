// The backend registry (src/backends/registry.ts) and the optional-op contract (OPTIONAL_OPS in
// src/backends/backend.ts): the names derived from the registry, a conformance file for every
// registered backend, and a backend that leaves out optional ops seen as missing them
// (implementsOp), with the conformance checks then skipping exactly those ops.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type Backend, OPTIONAL_OPS, implementsOp } from '../../src/backends/backend.ts';
import { AUTO_ORDER, BACKENDS, backendEntry, backendHelpLines } from '../../src/backends/registry.ts';
import { BACKEND_NAMES, createBackend, selectBackend } from '../../src/backends/select.ts';
import { TsBackend } from '../../src/backends/ts/ts-backend.ts';
import { withoutOps } from '../helpers/without-ops.ts';
import { checkErrors, checkModel, checkOps, modelSources, opCases } from './core.ts';

const HERE = dirname(fileURLToPath(import.meta.url));

describe('backend registry', () => {
  it('names are unique, lower-case words, and not the reserved "auto" and "cpu"', () => {
    const names = BACKENDS.map((e) => e.name);
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) {
      expect(n).toMatch(/^[a-z][a-z0-9]*$/);
      expect(['auto', 'cpu']).not.toContain(n);
      expect(backendEntry(n)?.name).toBe(n);
    }
    expect(backendEntry('gpu9000')).toBeUndefined();
  });

  it('BACKEND_NAMES is "auto" then the registry, in order', () => {
    expect(BACKEND_NAMES).toEqual(['auto', 'ts', 'wasm', 'cuda']);
  });

  it("'auto' tries wasm then ts, never cuda; selectBackend('auto') takes the first with a synchronous start", () => {
    expect(AUTO_ORDER.map((e) => e.name)).toEqual(['wasm', 'ts']);
    expect(selectBackend('auto')).toBeInstanceOf(TsBackend);
    expect(() => selectBackend('gpu9000')).toThrow(/unknown backend "gpu9000"/);
  });

  it('every registered backend has a conformance file in this folder', () => {
    for (const e of BACKENDS) expect(existsSync(join(HERE, `${e.name}.test.ts`)), `test/conformance/${e.name}.test.ts`).toBe(true);
  });

  it('backendHelpLines: "auto" and each backend, one aligned line each, with the summary', () => {
    const lines = backendHelpLines();
    expect(lines.map((l) => l.split(' ')[0])).toEqual(['auto', 'ts', 'wasm', 'cuda']);
    expect(lines[0]).toBe('auto  the fastest that works here (wasm, else ts)');
    BACKENDS.forEach((e, i) => expect(lines[i + 1]).toBe(`${e.name.padEnd(6)}${e.summary}`));
    expect(lines.find((l) => l.startsWith('cuda'))).toMatch(/never picked by auto/);
  });

  it('createBackend("ts") makes the ts backend with every optional op', async () => {
    const b = await createBackend('ts');
    expect(b).toBeInstanceOf(TsBackend);
    expect(OPTIONAL_OPS.filter((op) => implementsOp(b, op))).toEqual([...OPTIONAL_OPS]);
  });
});

describe('a backend without some optional ops', () => {
  it('is seen as missing exactly those (implementsOp)', () => {
    const b = withoutOps(new TsBackend(), ['wkv4', 'wkv5']);
    expect(OPTIONAL_OPS.filter((op) => !implementsOp(b, op))).toEqual(['wkv4', 'wkv5']);
    expect(implementsOp(withoutOps(new TsBackend(), ['rowVecMat']), 'rowVecMat')).toBe(false);
    // a property that is there but not a function is not an op
    const odd = new TsBackend() as Backend;
    Object.defineProperty(odd, 'wkv7', { value: 'wkv7' });
    expect(implementsOp(odd, 'wkv7')).toBe(false);
  });

  it('conformance skips exactly those ops, and runs and passes the others', async () => {
    const b = withoutOps(new TsBackend(), ['wkv4', 'wkv5']);
    const r = await checkOps(b, new TsBackend(), { atol: 0, rtol: 0 });
    expect(r.notImplemented).toEqual(['wkv4', 'wkv5']);
    expect(r.failures).toEqual([]);
    const all = opCases();
    expect(r.cases).toBe(all.filter((c) => c.op !== 'wkv4' && c.op !== 'wkv5').length);
    expect(r.cases).toBeLessThan(all.length);
    expect(all.some((c) => c.op === 'wkv7')).toBe(true);
    expect(checkErrors(b)).toEqual([]);
  });

  it('conformance skips the models that need those ops, the model naming the op; the others run and pass', async () => {
    const b = withoutOps(new TsBackend(), ['wkv4', 'wkv5']);
    const m = { against: 'ts', weights: [], greedyTokens: 2, randomModels: true, fixtures: () => false } as const;
    const w = { weights: 'f32', logits: { atol: 0, rtol: 0 }, exactGreedy: true } as const;
    const outcome: string[] = [];
    for (const src of modelSources(m)) {
      const r = await checkModel(b, src, w, m);
      expect(r.failures).toEqual([]);
      outcome.push(`${src.label.split(' ')[1]} ${r.skipped === undefined ? 'ran' : `skipped: ${/\b(wkv\d)\b/.exec(r.skipped)?.[1]}`}`);
    }
    expect(outcome).toEqual([
      'RWKV-4 skipped: wkv4',
      'RWKV-5.0 skipped: wkv5',
      'RWKV-5.1 skipped: wkv5',
      'RWKV-5.2 skipped: wkv5',
      'RWKV-6 skipped: wkv5',
      'RWKV-7 ran',
      'RWKV-7-deepembed ran',
    ]);
  });
});
