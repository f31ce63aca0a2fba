// Worker threads for the WASM backend's pool, and how many cores there are: node:worker_threads
// and node:os, which Node, Deno and Bun all provide. The browser build (scripts/build-browser.mjs)
// swaps this module for threads.browser.ts (Web Workers, navigator.hardwareConcurrency).

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { RwkvError } from '../../errors.ts';

/** What a pool worker gets: its kernel module, the shared memory, and its place in the pool. */
export interface KernelWorkerData {
  wasmModule: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** Byte address of the pool's control block. */
  ctrl: number;
  /** Export names, in kernel-id order. */
  kernels: string[];
  /** This worker's part number (1..threads−1; the caller is 0). */
  part: number;
  /** Spins before sleeping. */
  spin: number;
}

export interface KernelWorker {
  /** Resolves when the worker has instantiated the kernels and is waiting for jobs. */
  readonly ready: Promise<void>;
  /** After `ready`: the worker no longer keeps the process alive, start listeners are dropped. */
  detach(): void;
  terminate(): Promise<void>;
}

/** Hardware threads of this machine. */
export function hardwareThreads(): number {
  return availableParallelism();
}

/**
 * Start a worker that runs `main`, the source of a function `(data, ready) => void` that must
 * not close over anything (it is run from text, so no file is resolved: it loads the same from
 * src/ under tsx/vitest, Deno and Bun, and from dist/; a .ts worker file fails under tsx on
 * Node 20).
 */
export function startWorker(main: string, data: KernelWorkerData): KernelWorker {
  const source = `'use strict';
const { parentPort, workerData } = require('node:worker_threads');
(${main})(workerData, () => parentPort.postMessage('ready'));
`;
  const w = new Worker(source, { eval: true, workerData: data });
  const ready = new Promise<void>((resolve, reject) => {
    w.once('message', () => resolve());
    w.once('error', (e) => reject(new RwkvError('BACKEND_UNAVAILABLE', `a WASM worker thread failed to start: ${e.message}`)));
    w.once('exit', (code) => reject(new RwkvError('BACKEND_UNAVAILABLE', `a WASM worker thread exited during start (code ${code})`)));
  });
  return {
    ready,
    detach() {
      w.removeAllListeners('exit');
      w.unref();
    },
    async terminate() {
      await w.terminate();
    },
  };
}
