// CLI: rwkv convert (formats, dtype, atomic output, refusals), rwkv state convert, --lora.

import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli as run } from '../helpers/cli.ts';
import { RwkvModel } from '../../src/index.ts';
import { loadCheckpoint } from '../../src/io/load.ts';
import { safetensorsWriter } from '../../src/io/safetensors-write.ts';
import type { Checkpoint } from '../../src/tensor/tensor.ts';
import { MemorySink } from '../../src/io/write.ts';
import { mergeLora } from '../../src/model/lora.ts';
import { fixturePath } from '../helpers/fixtures.ts';
import { rng } from '../helpers/random-model.ts';
import { CONVERT_BF16_LOGITS_ATOL, CONVERT_F16_LOGITS_ATOL, GGUF_Q8_0_ATOL, expectClose } from '../helpers/tolerance.ts';

const logitsOf = (s: string) => (JSON.parse(s) as { logits: number[] }).logits;
const tmp = mkdtempSync(join(tmpdir(), 'rwkv-cli-formats-'));
const v7 = fixturePath('tiny-rwkv/tiny-rwkv-7v0-834K-FP32.bin');
const TOKENS = '34,105,110,32,97';

describe.skipIf(v7 === undefined)('rwkv convert', () => {
  it('bin → safetensors (f16, bf16, f32) gives a model with the same logits (within the dtype)', async () => {
    const ref = logitsOf((await run(['forward', '--model', v7!, '--tokens', TOKENS])).out);
    for (const [dtype, tol] of [
      ['f32', 0],
      ['f16', CONVERT_F16_LOGITS_ATOL],
      ['bf16', CONVERT_BF16_LOGITS_ATOL],
    ] as const) {
      const out = join(tmp, `v7-${dtype}.safetensors`);
      const r = await run(['convert', v7!, out, '--dtype', dtype, '--json']);
      expect(r.code, r.err).toBe(0);
      expect(JSON.parse(r.out)).toMatchObject({ from: 'rwkv.cpp', to: 'safetensors', version: '7' });
      const { checkpoint } = await loadCheckpoint(out);
      expect(new Set([...checkpoint.values()].map((t) => t.storedAs))).toEqual(new Set([dtype.toUpperCase()]));
      expectClose(`convert --dtype ${dtype}`, logitsOf((await run(['forward', '--model', out, '--tokens', TOKENS])).out), ref, tol);
    }
  });

  it('--quantize Q8_0 writes a GGUF llama.cpp-style, within Q8_0 error; GGUF refuses RWKV-4', async () => {
    const ref = logitsOf((await run(['forward', '--model', v7!, '--tokens', TOKENS])).out);
    const out = join(tmp, 'v7-q8.gguf');
    const r = await run(['convert', v7!, out, '--quantize', 'q8_0', '--json']);
    expect(r.code, r.err).toBe(0);
    const { checkpoint } = await loadCheckpoint(out);
    expect([...checkpoint.values()].some((t) => t.storedAs === 'Q8_0')).toBe(true);
    expectClose('q8_0 gguf', logitsOf((await run(['forward', '--model', out, '--tokens', TOKENS])).out), ref, GGUF_Q8_0_ATOL);
    expect((await run(['convert', v7!, join(tmp, 'x.safetensors'), '--quantize', 'Q8_0'])).err).toMatch(/GGUF output only/);
    expect((await run(['convert', v7!, join(tmp, 'x.gguf'), '--quantize', 'Q3_K'])).code).toBe(2);
    const v4 = fixturePath('tiny-rwkv/tiny-rwkv-4v0-660K-FP32.bin');
    if (v4 !== undefined) {
      const no = await run(['convert', v4, join(tmp, 'v4.gguf')]);
      expect(no.code).toBe(1);
      expect(no.err).toMatch(/RWKV-4/);
    }
  });

  it('never overwrites the input, refuses unknown targets, and leaves no partial file behind', async () => {
    const same = await run(['convert', v7!, v7!]);
    expect(same.code).toBe(1);
    expect(same.err).toMatch(/overwrite the input/);
    const bad = await run(['convert', v7!, join(tmp, 'x.onnx')]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/output format/);
    const usage = await run(['convert', v7!]);
    expect(usage.code).toBe(2);
    const notModel = join(tmp, 'not-a-model.safetensors');
    const sink = new MemorySink();
    safetensorsWriter.write(new Map([['foo', { shape: [2], data: new Float32Array(2), storedAs: 'F32' }]]), sink, {});
    writeFileSync(notModel, sink.bytes());
    const out = join(tmp, 'never.safetensors');
    const r = await run(['convert', notModel, out]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no RWKV version/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(tmp).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });
});

describe.skipIf(v7 === undefined)('rwkv state convert and --state-*-format', () => {
  it('a state exported to rwkv.cpp / official / web-rwkv layouts and back continues identically', async () => {
    const native = join(tmp, 'v7.state');
    expect((await run(['forward', '--model', v7!, '--tokens', '34,105', '--state-out', native])).code).toBe(0);
    const direct = logitsOf((await run(['forward', '--model', v7!, '--tokens', '110', '--state-in', native])).out);
    for (const fmt of ['rwkv.cpp', 'official', 'web-rwkv']) {
      const exported = join(tmp, `v7.${fmt}.state`);
      const r = await run(['state', 'convert', native, exported, '--model', v7!, '--to', fmt]);
      expect(r.code, r.err).toBe(0);
      const via = await run([
        'forward',
        '--model',
        v7!,
        '--tokens',
        '110',
        '--state-in',
        exported,
        ...(fmt === 'official' ? [] : ['--state-in-format', fmt]),
      ]);
      expect(via.code, via.err).toBe(0);
      expect(logitsOf(via.out)).toEqual(direct);
    }
    // --state-out-format writes the other layout directly
    const raw = join(tmp, 'v7.rwkvcpp.bin');
    expect((await run(['forward', '--model', v7!, '--tokens', '34,105', '--state-out', raw, '--state-out-format', 'rwkv.cpp'])).code).toBe(
      0,
    );
    expect(readFileSync(raw).length).toBe(12 * (2 + 64) * 64 * 4);
    const back = await run(['forward', '--model', v7!, '--tokens', '110', '--state-in', raw, '--state-in-format', 'rwkv.cpp']);
    expect(logitsOf(back.out)).toEqual(direct);
  });

  it('refuses bad format names and undetectable raw files with one-line errors', async () => {
    const r = await run(['forward', '--model', v7!, '--tokens', '1', '--state-out', join(tmp, 'x'), '--state-out-format', 'pickle']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--state-out-format/);
    const raw = join(tmp, 'raw.bin');
    writeFileSync(raw, new Uint8Array(12 * 66 * 64 * 4));
    const u = await run(['forward', '--model', v7!, '--tokens', '1', '--state-in', raw]);
    expect(u.code).toBe(2);
    expect(u.err).toMatch(/--state-in-format/);
  });
});

describe.skipIf(v7 === undefined)('--lora', () => {
  /** A random rank-3 LoRA on two matrices of the tiny v7 model. */
  function loraFile(): string {
    const r = rng(7);
    const rank = 3;
    const lora: Checkpoint = new Map();
    for (const key of ['blocks.0.att.key', 'blocks.5.ffn.value']) {
      const [out, inp] = key.endsWith('value') ? [64, 256] : [64, 64];
      lora.set(`${key}.lora_A`, { shape: [rank, inp], data: Float32Array.from({ length: rank * inp }, () => r() - 0.5), storedAs: 'F32' });
      lora.set(`${key}.lora_B`, { shape: [out, rank], data: Float32Array.from({ length: out * rank }, () => r() - 0.5), storedAs: 'F32' });
    }
    const sink = new MemorySink();
    safetensorsWriter.write(lora, sink, {});
    const f = join(tmp, 'lora.safetensors');
    writeFileSync(f, sink.bytes());
    return f;
  }

  it('forward --lora equals a model built from the merged weights, and convert --lora bakes it in', async () => {
    const lf = loraFile();
    // --backend ts: compared bit for bit with a ts-backend model built from the merged weights
    const base = logitsOf((await run(['forward', '--model', v7!, '--tokens', TOKENS, '--backend', 'ts'])).out);
    const r = await run(['forward', '--model', v7!, '--tokens', TOKENS, '--lora', lf, '--lora-alpha', '6', '--backend', 'ts']);
    expect(r.code, r.err).toBe(0);
    const withLora = logitsOf(r.out);
    expect(Math.max(...withLora.map((x, i) => Math.abs(x - base[i]!)))).toBeGreaterThan(1e-3);
    const merged = mergeLora((await loadCheckpoint(v7!)).checkpoint, (await loadCheckpoint(lf)).checkpoint, 6);
    const expected = (await RwkvModel.fromCheckpoint(merged).forward(TOKENS.split(',').map(Number))).logits as Float32Array;
    expect(withLora.map(Math.fround)).toEqual(Array.from(expected));
    const out = join(tmp, 'merged.safetensors');
    expect((await run(['convert', v7!, out, '--lora', lf, '--lora-alpha', '6'])).code).toBe(0);
    expect(logitsOf((await run(['forward', '--model', out, '--tokens', TOKENS, '--backend', 'ts'])).out)).toEqual(withLora);
  });

  it('--lora without --lora-alpha, or a non-number alpha, is a usage error', async () => {
    expect((await run(['forward', '--model', v7!, '--tokens', '1', '--lora', 'x.safetensors'])).code).toBe(2);
    expect((await run(['forward', '--model', v7!, '--tokens', '1', '--lora', 'x', '--lora-alpha', 'big'])).err).toMatch(/--lora-alpha/);
    expect((await run(['forward', '--model', v7!, '--tokens', '1', '--lora-alpha', '2'])).err).toMatch(/--lora FILE/);
  });
});

describe.skipIf(v7 === undefined)('--model from the Hugging Face Hub (fake Hub on 127.0.0.1)', () => {
  it('downloads into the HF cache once, then runs offline from it', async () => {
    const { startHubServer } = await import('../helpers/hub-server.ts');
    const bytes = new Uint8Array(readFileSync(v7!));
    const commit = 'a'.repeat(40);
    const server = await startHubServer({
      'RWKV/tiny': { commits: { [commit]: { 'tiny-7v0.bin': { bytes, lfs: true } } }, refs: { main: commit } },
    });
    const cache = join(tmp, 'hf-cache');
    const keys = ['HF_ENDPOINT', 'HF_HUB_CACHE', 'HF_TOKEN', 'HF_HUB_OFFLINE'] as const;
    const saved = keys.map((k) => process.env[k]);
    delete process.env['HF_HUB_OFFLINE'];
    process.env['HF_ENDPOINT'] = server.url;
    process.env['HF_HUB_CACHE'] = cache;
    process.env['HF_TOKEN'] = '';
    try {
      const local = logitsOf((await run(['forward', '--model', v7!, '--tokens', TOKENS])).out);
      const first = await run(['forward', '--model', 'RWKV/tiny/tiny-7v0.bin', '--tokens', TOKENS]);
      expect(first.code, first.err).toBe(0);
      expect(logitsOf(first.out)).toEqual(local);
      expect(existsSync(join(cache, 'models--RWKV--tiny', 'refs', 'main'))).toBe(true);
      const before = server.requests.length;
      const offline = await run(['info', '--model', 'RWKV/tiny/tiny-7v0.bin', '--offline', '--json']);
      expect(offline.code, offline.err).toBe(0);
      expect(JSON.parse(offline.out).version).toBe('7');
      expect(server.requests.length).toBe(before);
      const missing = await run(['info', '--model', 'RWKV/tiny/nope.bin']);
      expect(missing.code).toBe(1);
      expect(missing.err).toMatch(/nope\.bin/);
    } finally {
      keys.forEach((k, i) => {
        if (saved[i] === undefined) delete process.env[k];
        else process.env[k] = saved[i];
      });
      await server.close();
    }
  });
});
