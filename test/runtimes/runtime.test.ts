// Runtime guard. test/runtimes/run.mjs sets RWKV_TEST_RUNTIME to the runtime it started vitest
// with (node, deno or bun) and refuses a run in which this test did not pass. It proves that the
// test files really executed inside that runtime (vitest's worker processes are spawned with the
// runtime's own executable), not silently in Node. Without RWKV_TEST_RUNTIME (plain `npx vitest`)
// it only checks that the runtime is recognised.
import { describe, expect, it } from 'vitest';

type Runtime = 'node' | 'deno' | 'bun';

interface DenoGlobal {
  version: { deno: string };
}

function detectRuntime(): { name: Runtime; version: string } {
  const deno = (globalThis as { Deno?: DenoGlobal }).Deno;
  if (deno !== undefined) return { name: 'deno', version: deno.version.deno };
  const bun = process.versions['bun'];
  if (bun !== undefined) return { name: 'bun', version: bun };
  return { name: 'node', version: process.versions.node };
}

const expected = process.env['RWKV_TEST_RUNTIME'];

describe('runtime guard', () => {
  it('runs inside the runtime the runner asked for', () => {
    const actual = detectRuntime();
    expect(['node', 'deno', 'bun']).toContain(actual.name);
    expect(actual.version).toMatch(/^\d+\.\d+\.\d+/);
    if (expected !== undefined && expected !== '') expect(actual.name).toBe(expected);
  });
});
