// The WASM backend's thread pool: node:worker_threads (Node, Deno and Bun all provide it), each
// worker an instance of the same kernel module on the same shared memory. One job = one kernel
// call over rows [0, O), cut into chunks (multiples of 4 rows); the calling thread and the
// workers claim chunks until none is left.
//
// Dispatch is a control block of i32 in the shared memory, no messages:
//   the caller writes the kernel id, the arguments and the chunking, resets DONE and NEXT (NEXT
//   carries the job's number in its high bits), bumps GEN and wakes sleepers (Atomics.notify
//   only when one sleeps), then claims chunks itself;
//   a worker spins on GEN for a while (the next product of a decode step comes within
//   microseconds), then sleeps in Atomics.wait; it claims chunks with a compare-exchange on
//   NEXT that succeeds only for the current job, runs each and counts it in DONE;
//   the caller returns when DONE = the number of chunks.
// Claiming (rather than one fixed part per thread) means a worker the OS has descheduled costs
// nothing: the caller does its share. One product costs a few microseconds of synchronisation.
//
// The worker's main function is self-contained source text, started by ./threads.ts
// (node:worker_threads in Node, Deno and Bun; Web Workers in the browser build): no file to
// resolve. Workers never keep a process alive. A pool of one thread starts no worker and never
// touches the control block (so it also runs on a plain, unshared memory).

import { RwkvError } from '../../errors.ts';
import { type KernelWorker, startWorker } from './threads.ts';

/** i32 slots of the control block. */
const GEN = 0; // job number
const NEXT = 1; // (job number & 0x7fff) << 16 | next chunk to claim
const DONE = 2; // chunks finished in this job
const SLEEPERS = 3; // workers in Atomics.wait on GEN
const MAIN_SLEEPS = 4; // 1 while the caller sleeps on DONE
const QUIT = 5;
const KERNEL = 6;
const FAILED = 7; // 1 + the part whose kernel threw (a trap), else 0
const CHUNKS = 8; // chunks in this job
const CHUNK_ROWS = 9; // rows per chunk (a multiple of 4)
const HELPED = 10; // chunks the workers ran since the pool started (stats; wraps at 2^31)
const ARGS = 16; // (out, x, W, T, K, O, scratchBase, scratchStride)
export const MAX_PARTS = 64;
/** Bytes of the control block. */
export const CONTROL_BYTES = 32 * 4;

/** Spins (Atomics.load polls) before a waiting thread sleeps: tens of microseconds. */
const SPIN = 20000;
/** A job whose finished-chunk count has not moved for this long has lost a thread. */
const STALL_MS = 60_000;
/** Chunks per thread in a job: enough that a late thread's share is small. */
const CHUNKS_PER_THREAD = 4;

/**
 * One participant's loop over the current job `gen`: claim a chunk (compare-exchange on NEXT,
 * only while NEXT still belongs to `gen`), run kernel(out, x, W, T, K, O, row0, row1, scratch)
 * on its rows with this participant's scratch, count it in DONE. Shared by the caller (as a
 * function) and the workers (as source text, so the slots are literals: NEXT 1, DONE 2,
 * MAIN_SLEEPS 4, KERNEL 6, FAILED 7, CHUNKS 8, CHUNK_ROWS 9, HELPED 10, ARGS 16..23).
 */
function claimChunks(c: Int32Array, gen: number, part: number, fns: ((...a: number[]) => unknown)[]): void {
  const tag = (gen & 0x7fff) << 16;
  for (;;) {
    const v = Atomics.load(c, 1);
    if ((v & ~0xffff) !== tag || (v & 0xffff) >= Atomics.load(c, 8)) return;
    if (Atomics.compareExchange(c, 1, v, v + 1) !== v) continue;
    const i = v & 0xffff;
    const rows = c[9]!;
    const O = c[21]!;
    const r0 = i * rows;
    const r1 = Math.min(O, r0 + rows);
    try {
      fns[c[6]!]!(c[16]!, c[17]!, c[18]!, c[19]!, c[20]!, O, r0, r1, (c[22]! + part * c[23]!) >>> 0);
    } catch {
      Atomics.store(c, 7, part + 1); // reported by the caller; the chunk still counts as done
    }
    if (part !== 0) Atomics.add(c, 10, 1);
    if (Atomics.add(c, 2, 1) + 1 === Atomics.load(c, 8) && Atomics.load(c, 4) !== 0) Atomics.notify(c, 2);
  }
}

/** A worker's main function, as text: (KernelWorkerData, ready) => never returns until QUIT. */
const WORKER_MAIN = `(data, ready) => {
const { wasmModule, memory, ctrl, kernels, part, spin } = data;
const exportsOf = new WebAssembly.Instance(wasmModule, { env: { memory } }).exports;
const fns = kernels.map((name) => exportsOf[name]);
const c = new Int32Array(memory.buffer, ctrl, ${CONTROL_BYTES / 4});
const claimChunks = ${claimChunks.toString()};
// read before 'ready': no job is dispatched until every worker is ready
let gen = Atomics.load(c, ${GEN});
ready();
for (;;) {
  let g = Atomics.load(c, ${GEN});
  for (let n = 0; g === gen && n < spin; n++) g = Atomics.load(c, ${GEN});
  if (g === gen) {
    Atomics.add(c, ${SLEEPERS}, 1);
    Atomics.wait(c, ${GEN}, gen);
    Atomics.sub(c, ${SLEEPERS}, 1);
    continue;
  }
  gen = g;
  if (Atomics.load(c, ${QUIT}) !== 0) break;
  claimChunks(c, gen, part, fns);
}
}`;

type Kernel = (...args: number[]) => unknown;

export class ThreadPool {
  private readonly c: Int32Array;
  private readonly workers: KernelWorker[] = [];
  private readonly fns: Kernel[];
  private canWaitHere = true;
  private closed = false;

  private constructor(
    memory: WebAssembly.Memory,
    ctrl: number,
    exports: WebAssembly.Exports,
    readonly kernels: readonly string[],
    /** Threads per job: this one plus `threads − 1` workers. */
    readonly threads: number,
  ) {
    this.c = new Int32Array(memory.buffer, ctrl, CONTROL_BYTES / 4);
    this.fns = kernels.map((k) => exports[k] as Kernel);
  }

  /** Start `threads − 1` workers instantiating `module` on `memory`; resolves when all are ready. */
  static async create(
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    ctrl: number,
    exports: WebAssembly.Exports,
    kernels: readonly string[],
    threads: number,
  ): Promise<ThreadPool> {
    if (!(Number.isInteger(threads) && threads >= 1 && threads <= MAX_PARTS)) {
      throw new RwkvError('INVALID_ARGUMENT', 'thread count out of range', {
        argument: 'threads',
        expected: `an integer in [1, ${MAX_PARTS}]`,
        actual: String(threads),
      });
    }
    const pool = new ThreadPool(memory, ctrl, exports, kernels, threads);
    if (threads === 1) return pool;
    pool.c.fill(0);
    try {
      for (let part = 1; part < threads; part++) {
        pool.workers.push(startWorker(WORKER_MAIN, { wasmModule: module, memory, ctrl, kernels: [...kernels], part, spin: SPIN }));
      }
      await Promise.all(pool.workers.map((w) => w.ready));
    } catch (e) {
      await pool.close();
      throw e;
    }
    for (const w of pool.workers) w.detach();
    return pool;
  }

  /**
   * Run kernel `k` over rows [0, O) with args = (out, x, W, T, K, O, scratchBase, scratchStride),
   * on up to `parts` threads. Returns when every row is done. Thread p's scratch is
   * scratchBase + p·scratchStride.
   */
  run(k: number, args: readonly number[], O: number, parts: number): void {
    const c = this.c;
    const fn = this.fns[k]!;
    parts = Math.max(1, Math.min(parts, this.threads, Math.ceil(O / 4)));
    if (parts === 1 || this.closed) {
      // one thread (also after close(): the workers are gone, this thread does it all)
      fn(args[0]!, args[1]!, args[2]!, args[3]!, args[4]!, O, 0, O, args[6]!);
      return;
    }
    const rows = Math.ceil(O / (parts * CHUNKS_PER_THREAD) / 4) * 4;
    const chunks = Math.ceil(O / rows);
    c[KERNEL] = k;
    for (let i = 0; i < 8; i++) c[ARGS + i] = args[i]! | 0;
    c[CHUNK_ROWS] = rows;
    Atomics.store(c, CHUNKS, chunks);
    Atomics.store(c, DONE, 0);
    const gen = (c[GEN]! + 1) | 0;
    Atomics.store(c, NEXT, (gen & 0x7fff) << 16);
    Atomics.store(c, GEN, gen);
    if (Atomics.load(c, SLEEPERS) !== 0) Atomics.notify(c, GEN);
    claimChunks(c, gen, 0, this.fns);
    this.join(chunks);
    const failed = Atomics.exchange(c, FAILED, 0);
    if (failed !== 0) {
      throw new RwkvError('INVALID_ARGUMENT', `a WASM kernel (${this.kernels[k]}) trapped in thread ${failed - 1}`);
    }
  }

  /** Wait until `chunks` chunks are done: spin, then sleep (where this thread may block). */
  private join(chunks: number): void {
    const c = this.c;
    for (let n = 0; n < SPIN; n++) if (Atomics.load(c, DONE) === chunks) return;
    let last = Atomics.load(c, DONE);
    let since = performance.now();
    for (;;) {
      const v = Atomics.load(c, DONE);
      if (v === chunks) return;
      if (v !== last) {
        last = v;
        since = performance.now();
      } else if (performance.now() - since > STALL_MS) {
        // a worker claimed a chunk and never finished it (the thread died): fail, do not hang
        this.closed = true;
        throw new RwkvError('BACKEND_UNAVAILABLE', `a WASM worker thread stopped in the middle of ${this.kernels[c[KERNEL]!]}`, {
          expected: `${chunks} chunks done`,
          actual: `${v} after ${STALL_MS / 1000} s without progress`,
          hint: 'the backend is unusable now; create a new one',
        });
      }
      if (this.canWaitHere) {
        Atomics.store(c, MAIN_SLEEPS, 1);
        try {
          Atomics.wait(c, DONE, v, 100);
        } catch {
          this.canWaitHere = false; // a thread that may not block (a browser's main thread): spin
        }
        Atomics.store(c, MAIN_SLEEPS, 0);
      }
    }
  }

  /** Chunks of work the worker threads (not the caller) have run since the pool started. */
  workerChunks(): number {
    return this.threads === 1 ? 0 : Atomics.load(this.c, HELPED);
  }

  /** Stop the workers (idempotent). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.threads === 1) return; // no workers; the control block was never used
    Atomics.store(this.c, QUIT, 1);
    Atomics.add(this.c, GEN, 1);
    Atomics.notify(this.c, GEN);
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}
