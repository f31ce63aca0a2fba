// The WASM backend's machinery: the shared-memory allocator, free/reuse (a fixed footprint over
// many forward calls), threads vs one thread, the relaxed-SIMD verification, typed errors, and
// that a process using the backend exits without dispose (workers are unref'd).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RwkvError } from '../../src/errors.ts';
import { RwkvModel } from '../../src/model/model.ts';
import { TsBackend } from '../../src/backends/ts/ts-backend.ts';
import type { WeightStorage } from '../../src/backends/backend.ts';
import { createBackend, selectBackend } from '../../src/backends/select.ts';
import { Arena, MAX_BYTES } from '../../src/backends/wasm/arena.ts';
import { ThreadPool } from '../../src/backends/wasm/pool.ts';
import { createSharedMemory, kernelModule, wasmVariantSupported } from '../../src/backends/wasm/module.ts';
import { WasmBackend, checkRelaxed } from '../../src/backends/wasm/wasm-backend.ts';
import { REPO_ROOT } from '../helpers/fixtures.ts';
import { WASM_BUILDS_ATOL, expectClose } from '../helpers/tolerance.ts';
import { randomCheckpoint, uniform } from '../helpers/random-model.ts';

/** Seeded uniform numbers in [−1, 1). */
function rand(seed: number) {
  const r = uniform(seed);
  return () => r(-1, 1);
}

describe('wasm arena', () => {
  it('aligns to 64 bytes, reuses freed blocks, coalesces, and returns to its base when empty', () => {
    const arena = new Arena(createSharedMemory(1), 4100);
    const base = arena.highWater;
    expect(base % 64).toBe(0);
    const a = arena.alloc(10, 'a');
    const b = arena.alloc(100, 'b');
    const c = arena.alloc(64, 'c');
    for (const p of [a, b, c]) expect(p % 64).toBe(0);
    expect(new Set([a, b, c]).size).toBe(3);
    arena.free(b);
    expect(arena.alloc(100, 'b2')).toBe(b); // same size: the freed block
    arena.free(a);
    arena.free(b);
    // a and b coalesced: one 192-byte block fits where they were
    expect(arena.alloc(192, 'ab')).toBe(a);
    arena.free(a);
    arena.free(c);
    expect(arena.highWater).toBe(base);
    expect(arena.inUse).toBe(0);
  });

  it('grows the memory on demand and refuses more than wasm32 can address', () => {
    const memory = createSharedMemory(1);
    let grew = 0;
    const arena = new Arena(memory, 0, () => grew++);
    arena.alloc(200_000, 'big');
    expect(memory.buffer.byteLength).toBeGreaterThanOrEqual(200_000);
    expect(grew).toBe(1);
    const err = (() => {
      try {
        arena.alloc(MAX_BYTES, 'blocks.0.ffn.key.weight');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(RwkvError);
    expect((err as RwkvError).code).toBe('BACKEND_UNAVAILABLE');
    expect((err as RwkvError).tensor).toBe('blocks.0.ffn.key.weight');
    expect((err as RwkvError).message).toMatch(/4 GiB/);
    expect((err as RwkvError).message).toMatch(/bf16 or int8/);
  });

  it('rejects freeing what it did not allocate', () => {
    const arena = new Arena(createSharedMemory(1), 1024);
    expect(() => arena.free(4096)).toThrow(RwkvError);
  });
});

/** out = x·Wᵀ on backend b (W [O, K] stored as `storage`, x [T, K]); every tensor freed again. */
async function productOn(
  b: WasmBackend,
  W: Float32Array,
  x: Float32Array,
  T: number,
  K: number,
  O: number,
  storage: WeightStorage = 'f32',
): Promise<Float32Array> {
  const w = b.upload(W, [O, K], 'W', storage);
  const xt = b.upload(x, [T, K], 'x');
  const o = b.zeros([T, O], 'out');
  b.matmul(o, xt, w);
  const out = await b.download(o);
  for (const t of [w, xt, o]) b.free(t);
  return out;
}

describe('wasm backend', () => {
  let one: WasmBackend;
  let three: WasmBackend;
  beforeAll(async () => {
    one = await WasmBackend.create({ threads: 1 });
    three = await WasmBackend.create({ threads: 3 });
  });
  afterAll(async () => {
    await one.dispose();
    await three.dispose();
  });

  it('describes itself', () => {
    expect(one.caps.name).toBe('wasm');
    expect(one.caps.simd).toBe(true);
    expect(one.caps.threads).toBe(1);
    expect(three.caps.threads).toBe(3);
    expect(three.caps.description).toMatch(/3 threads/);
    expect(['portable', 'relaxed']).toContain(three.caps.variant);
    if (!wasmVariantSupported('relaxed')) expect(three.caps.variant).toBe('portable');
  });

  it('threads give bit-identical products to one thread, every storage, decode and prefill', async () => {
    const r = rand(3);
    for (const storage of ['f32', 'bf16', 'f16', 'i8'] as const) {
      for (const [T, K, O] of [
        [1, 200, 517],
        [5, 96, 300],
        [2, 33, 70],
      ] as const) {
        const W = Float32Array.from({ length: O * K }, r);
        const x = Float32Array.from({ length: T * K }, r);
        expect(await productOn(three, W, x, T, K, O, storage), `${storage} T${T} K${K} O${O}`).toEqual(
          await productOn(one, W, x, T, K, O, storage),
        );
      }
    }
  });

  it('stores what upload asked for: bf16 rounded to nearest even, int8 dequantised on download', async () => {
    const v = Float32Array.of(1 + 2 ** -8, 1 + 3 * 2 ** -8, -2.5, 0.1);
    const t = one.upload(v, [2, 2], 'W', 'bf16');
    expect(Array.from(await one.download(t))).toEqual([1, 1 + 2 ** -6, -2.5, Math.fround(0.10009765625)]);
    const ts = new TsBackend();
    const W = Float32Array.from({ length: 12 }, rand(5));
    const a = await one.download(one.upload(W, [3, 4], 'W8', 'i8'));
    const b = await ts.download(ts.upload(W, [3, 4], 'W8', 'i8'));
    expect(a).toEqual(b);
  });

  it('an f16 matrix holding inf or NaN is kept exactly (as f32): products propagate them', async () => {
    const bits = Uint16Array.of(0x3c00, 0x7c00, 0x3c00, 0x3c00, 0xfe00, 0x3c00); // [[1, inf, 1], [1, NaN, 1]]
    const W = one.uploadCompact(bits, [2, 3], 'W16', 'f16');
    const x = one.upload(Float32Array.of(1, 1, 1), [1, 3], 'x');
    const o = one.zeros([1, 2], 'o');
    one.matmul(o, x, W);
    const y = await one.download(o);
    expect(y[0]).toBe(Infinity);
    expect(Number.isNaN(y[1])).toBe(true);
  });

  it('frees for real: the footprint after 20 000 decode tokens (and a prefill) equals the one after 10', async () => {
    // issue 5: memory after 10⁵ tokens equals memory after 10 (the 10⁵ run: wasm-memory.slow.test.ts)
    const spec = {
      version: '7' as const,
      nLayer: 2,
      nHead: 2,
      headSize: 8,
      nFfn: 40,
      nVocab: 50,
      ranks: { maa: 2, decay: 2, w: 3, a: 3, v: 3, g: 3, s: 2 },
      timeState: false,
      seed: 11,
    };
    const model = RwkvModel.fromCheckpoint(randomCheckpoint(spec), { backend: one });
    const state = model.createState();
    const before = one.memoryStats();
    await model.forward([1, 2, 3, 4, 5], state);
    for (let i = 0; i < 10; i++) await model.forward([i % 50], state);
    const after10 = one.memoryStats();
    for (let i = 0; i < 20_000; i++) await model.forward([(i * 7) % 50], state);
    await model.forward([1, 2, 3, 4, 5], state);
    const afterMany = one.memoryStats();
    // the arena: same blocks alive, same top, and the WebAssembly.Memory did not grow
    expect(afterMany).toEqual(after10);
    expect(after10.inUse).toBeGreaterThanOrEqual(before.inUse);
    state.dispose?.();
    model.dispose();
  });

  it('rejects foreign, freed and compact tensors where they do not belong, and bad shapes', () => {
    const ts = new TsBackend();
    const x = one.zeros([2, 3], 'x');
    expect(() => one.unary('neg', x, ts.zeros([2, 3], 'y'))).toThrow(/does not belong/);
    expect(() => one.unary('neg', x, three.zeros([2, 3], 'z'))).toThrow(/does not belong/);
    const W = one.upload(new Float32Array(6), [2, 3], 'W', 'bf16');
    expect(() => one.unary('neg', x, W)).toThrow(/compact weight/);
    expect(() => one.matmul(one.zeros([2, 2], 'o'), x, one.zeros([2, 4], 'W2'))).toThrow(RwkvError);
    expect(() => one.upload(new Float32Array(5), [2, 3], 'bad')).toThrow(/upload size/);
    one.free(x);
    expect(() => one.unary('neg', x, x)).toThrow(/freed/);
    one.free(x); // freeing twice is harmless
  });

  it('the worker threads really take chunks of a large product (threadStats)', async () => {
    expect(one.threadStats()).toEqual({ threads: 1, workerChunks: 0 });
    const r = rand(5);
    const [T, K, O] = [8, 1024, 4096];
    const w = three.upload(Float32Array.from({ length: O * K }, r), [O, K], 'W');
    const x = three.upload(Float32Array.from({ length: T * K }, r), [T, K], 'x');
    const o = three.zeros([T, O], 'out');
    const before = three.threadStats().workerChunks;
    for (let i = 0; i < 5; i++) three.matmul(o, x, w);
    for (const t of [w, x, o]) three.free(t);
    expect(three.threadStats().threads).toBe(3);
    expect(three.threadStats().workerChunks).toBeGreaterThan(before);
  });

  it('plain (unshared) memory: one thread, the same products, growth refreshes the views', async () => {
    const plain = await WasmBackend.create({ sharedMemory: false });
    try {
      expect(plain.caps.threads).toBe(1);
      expect(plain.caps.description).toMatch(/plain \(unshared\) memory/);
      expect(plain.memory.buffer).toBeInstanceOf(ArrayBuffer);
      const r = rand(7);
      for (const storage of ['f32', 'bf16', 'f16', 'i8'] as const) {
        const [T, K, O] = [3, 96, 300];
        const W = Float32Array.from({ length: O * K }, r);
        const x = Float32Array.from({ length: T * K }, r);
        const [a, b] = [await productOn(one, W, x, T, K, O, storage), await productOn(plain, W, x, T, K, O, storage)];
        if (plain.caps.variant === one.caps.variant) expect(b, storage).toEqual(a);
        else expectClose(`plain ${storage}`, b, a, WASM_BUILDS_ATOL);
      }
      // 64 MiB more than the first page: the memory grows (its old ArrayBuffer detaches)
      const big = plain.upload(new Float32Array(16 << 20).fill(1.5), [16 << 20], 'big');
      const small = plain.upload(Float32Array.of(1, 2, 3), [3], 'small');
      expect(Array.from(await plain.download(small))).toEqual([1, 2, 3]);
      expect((await plain.download(big))[(16 << 20) - 1]).toBe(1.5);
    } finally {
      await plain.dispose();
    }
    await expect(WasmBackend.create({ sharedMemory: false, threads: 2 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      argument: 'threads',
    });
  });

  it('after dispose(), products still run (on the calling thread)', async () => {
    const b = await WasmBackend.create({ threads: 2 });
    const W = b.upload(new Float32Array(300 * 260).fill(0.5), [300, 260], 'W');
    const x = b.upload(new Float32Array(260).fill(2), [1, 260], 'x');
    const o = b.zeros([1, 300], 'o');
    await b.dispose();
    await b.dispose();
    b.matmul(o, x, W);
    expect(Array.from(await b.download(o))).toEqual(new Array(300).fill(260));
  });

  it('decode threads: settable below the thread count (default: the thread count)', async () => {
    const d = await WasmBackend.create({ threads: 3, decodeThreads: 1 });
    try {
      expect(d.caps.description).toMatch(/3 threads \(1 for decode\)/);
      // a one-token product on one thread equals the three-thread one
      const r = rand(11);
      const W = Float32Array.from({ length: 300 * 256 }, r);
      const x = Float32Array.from({ length: 256 }, r);
      expect(await productOn(d, W, x, 1, 256, 300)).toEqual(await productOn(three, W, x, 1, 256, 300));
    } finally {
      await d.dispose();
    }
    expect(three.caps.description).not.toMatch(/for decode/);
  });

  it('rejects bad options with typed errors', async () => {
    await expect(WasmBackend.create({ threads: 0 })).rejects.toThrow(RwkvError);
    await expect(WasmBackend.create({ threads: 1.5 })).rejects.toThrow(/thread count/);
    await expect(WasmBackend.create({ threads: 2, decodeThreads: 3 })).rejects.toThrow(/decode thread count/);
    await expect(WasmBackend.create({ threads: 2, decodeThreads: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    if (!wasmVariantSupported('relaxed')) {
      await expect(WasmBackend.create({ variant: 'relaxed' })).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    }
  });

  it('select: createBackend makes wasm (and auto prefers it); selectBackend("wasm") points at the async path', async () => {
    const w = await createBackend('wasm', { threads: 1 });
    expect(w.caps.name).toBe('wasm');
    await (w as WasmBackend).dispose();
    const a = await createBackend('auto', { threads: 1 });
    expect(a.caps.name).toBe('wasm');
    await (a as WasmBackend).dispose();
    expect((await createBackend('ts')).caps.name).toBe('ts');
    expect(() => selectBackend('wasm')).toThrow(/createBackend/);
    expect(selectBackend('auto').caps.name).toBe('ts');
    await expect(createBackend('gpu9000')).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
  });
});

describe('thread pool', () => {
  it('a kernel that traps in any thread is reported as a typed error, and the pool goes on working', async () => {
    const memory = createSharedMemory(2);
    const module = kernelModule('portable');
    const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
    const pool = await ThreadPool.create(module, memory, 1024, exports, ['matmulF32'], 2);
    try {
      // out far beyond the 128 KiB memory: every chunk traps (out of bounds)
      expect(() => pool.run(0, [0x7fff0000, 16384, 32768, 1, 4, 64, 0, 0], 64, 2)).toThrow(/trapped/);
      // x = 1, W = 1: a valid job afterwards still runs on both threads
      new Float32Array(memory.buffer, 16384, 4).fill(1);
      new Float32Array(memory.buffer, 32768, 64 * 4).fill(1);
      pool.run(0, [49152, 16384, 32768, 1, 4, 64, 0, 0], 64, 2);
      expect(Array.from(new Float32Array(memory.buffer, 49152, 64))).toEqual(new Array(64).fill(4));
    } finally {
      await pool.close();
    }
  });
});

describe('relaxed SIMD verification', () => {
  it.runIf(wasmVariantSupported('relaxed'))('the relaxed build agrees with the portable one here', () => {
    expect(checkRelaxed()).toBeUndefined();
  });

  it('a relaxed build that computes a wrong product is caught', () => {
    // stand-in for a miscompiled relaxed build: the portable kernels, but int8 off by one ulp-ish
    const broken = (memory: WebAssembly.Memory) => {
      const e = new WebAssembly.Instance(kernelModule('portable'), { env: { memory } }).exports;
      const f32 = new Float32Array(memory.buffer);
      const i8 = e['matmulI8'] as (...a: number[]) => void;
      const wrong = (out: number, ...rest: number[]) => {
        i8(out, ...rest);
        f32[out / 4] = f32[out / 4]! * 1.01 + 0.01;
        return 0;
      };
      return { ...e, matmulI8: wrong } as WebAssembly.Exports;
    };
    expect(checkRelaxed(broken)).toMatch(/matmulI8/);
  });
});

describe('process exit', () => {
  it('a process that uses the backend and never disposes it exits by itself', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rwkv-wasm-exit-'));
    try {
      const script = join(dir, 'child.mts');
      const src = join(REPO_ROOT, 'src', 'backends', 'wasm', 'wasm-backend.ts').replaceAll('\\', '/');
      writeFileSync(
        script,
        `import { WasmBackend } from ${JSON.stringify(src)};
const b = await WasmBackend.create({ threads: 2 });
const W = b.upload(new Float32Array(256 * 300).fill(0.5), [256, 300], 'W');
const x = b.upload(new Float32Array(300).fill(1), [1, 300], 'x');
const o = b.zeros([1, 256], 'o');
b.matmul(o, x, W);
console.log('sum', (await b.download(o)).reduce((a, v) => a + v, 0));
`,
      );
      const g = globalThis as { Deno?: unknown; Bun?: unknown };
      const [cmd, args] = g.Deno
        ? [process.execPath, ['run', '-A', '--no-lock', script]]
        : g.Bun
          ? [process.execPath, [script]]
          : [process.execPath, ['--import', 'tsx', script]];
      const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000, cwd: REPO_ROOT });
      expect(r.error, 'the child must exit on its own within 60 s').toBeUndefined();
      expect(r.stderr).not.toMatch(/Error/);
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`sum ${256 * 150}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
