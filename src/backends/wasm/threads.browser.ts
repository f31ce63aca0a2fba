// threads.ts in the browser build: pool workers are Web Workers started from a Blob of their
// source (no script file to serve), and the core count is navigator.hardwareConcurrency. The
// shared memory can be posted to a worker only on a cross-origin isolated page; module.ts
// sharedMemoryAvailable() tells, and the backend stays on one thread (no workers) elsewhere.

import { RwkvError } from '../../errors.ts';
import { ISOLATION_HEADERS } from './module.ts';
import type * as Node from './threads.ts';

export type KernelWorkerData = Node.KernelWorkerData;
export type KernelWorker = Node.KernelWorker;

/** The parts of the DOM's Worker used here (the project compiles without the DOM library). */
interface WebWorker {
  onmessage: ((e: unknown) => void) | null;
  onerror: ((e: { message?: string; preventDefault(): void }) => void) | null;
  onmessageerror: ((e: unknown) => void) | null;
  postMessage(data: unknown): void;
  terminate(): void;
}
const web = globalThis as unknown as {
  Worker?: new (url: string) => WebWorker;
  navigator?: { hardwareConcurrency?: number };
};

export const hardwareThreads: typeof Node.hardwareThreads = () => Math.max(1, web.navigator?.hardwareConcurrency ?? 1);

/** The memory (shared only on an isolated page) could not be posted to the worker. */
const notSent = (detail: string) =>
  new RwkvError('BACKEND_UNAVAILABLE', `the WASM memory could not be sent to a worker${detail}`, {
    hint: `serve the page cross-origin isolated (${ISOLATION_HEADERS}), or use threads: 1`,
  });

export const startWorker: typeof Node.startWorker = (main, data) => {
  const source = `'use strict';
self.onmessage = (e) => {
  self.onmessage = null;
  (${main})(e.data, () => self.postMessage('ready'));
};
`;
  const Ctor = web.Worker;
  if (Ctor === undefined) throw new RwkvError('BACKEND_UNAVAILABLE', 'this page has no Web Workers', { hint: 'use threads: 1' });
  const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  let w: WebWorker;
  try {
    w = new Ctor(url);
  } finally {
    URL.revokeObjectURL(url);
  }
  const ready = new Promise<void>((resolve, reject) => {
    w.onmessage = () => resolve();
    w.onerror = (e) => {
      e.preventDefault();
      reject(
        new RwkvError('BACKEND_UNAVAILABLE', `a WASM worker failed to start: ${e.message || 'error in the worker'}`, {
          hint: 'a Content-Security-Policy must allow workers from blob: URLs (worker-src blob:)',
        }),
      );
    };
    w.onmessageerror = () => reject(notSent(''));
  });
  try {
    w.postMessage(data);
  } catch (e) {
    w.terminate();
    throw notSent(`: ${(e as Error).message}`);
  }
  return {
    ready,
    detach() {
      w.onmessage = null;
      w.onerror = null;
      w.onmessageerror = null;
    },
    async terminate() {
      w.terminate();
    },
  };
};
