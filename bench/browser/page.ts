// The page side of bench/browser/run.ts: `rwkv bench`'s engine (src/bench/bench.ts), bundled for
// the browser with the platform twins, on globalThis for the driver to call.
import { parseShape, runBench } from '../../src/bench/bench.ts';
import { sharedMemoryAvailable } from '../../src/backends/wasm/module.ts';

(globalThis as Record<string, unknown>)['rwkvBench'] = { parseShape, runBench, sharedMemoryAvailable };
