// What the backend registry (./registry.ts) knows of a backend: each backend folder's entry.ts
// exports one BackendEntry, and the registry lists them.

import type { Backend } from './backend.ts';
import type { WasmVariant } from './wasm/module.ts';

/** Options for making a backend; each backend reads the ones it knows and ignores the others. */
export interface CreateBackendOptions {
  /** Worker threads (wasm; default os.availableParallelism()). */
  threads?: number;
  /** Which WASM build (default 'auto': relaxed SIMD where supported and verified). */
  variant?: 'auto' | WasmVariant;
  /** Device ordinal (cuda; default 0). */
  device?: number;
}

/** One backend, as the registry knows it. */
export interface BackendEntry {
  /** Its name in `--backend`, createBackend(name) and strategy strings: lower case, not "auto" or "cpu". */
  readonly name: string;
  /** One line for the help texts: what it is and where it runs. */
  readonly summary: string;
  /**
   * Make one. A backend that cannot run here throws BACKEND_UNAVAILABLE (or its own typed code,
   * e.g. CUDA_UNAVAILABLE) saying what is missing.
   */
  create(options: CreateBackendOptions): Promise<Backend>;
  /** Make one synchronously, for a backend that needs no async start (RwkvModel.fromCheckpoint). */
  createSync?(options: CreateBackendOptions): Backend;
  /**
   * Its rank when 'auto' (and the strategy device "cpu") picks a backend: higher is tried first,
   * and the next is tried when it throws BACKEND_UNAVAILABLE. Absent: never picked by 'auto'.
   */
  readonly auto?: number;
  /** It takes a device ordinal: `NAME:K` in a strategy string, `device` in the options. */
  readonly ordinal?: boolean;
}
