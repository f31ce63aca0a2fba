// The ts backend's entry in the backend registry (../registry.ts).

import type { BackendEntry } from '../backend-entry.ts';
import { TsBackend } from './ts-backend.ts';

export const tsEntry = {
  name: 'ts',
  summary: 'TypeScript kernels, no WebAssembly: runs everywhere, the slowest',
  auto: 1,
  create: () => Promise.resolve(new TsBackend()),
  createSync: () => new TsBackend(),
} as const satisfies BackendEntry;
