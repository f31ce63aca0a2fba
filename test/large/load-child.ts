// Child process of test/large/run.ts: load a model file, run a few tokens, report peak RSS.
import { readFileSync } from 'node:fs';
import { RwkvModel } from '../../src/index.ts';

const file = process.argv[2]!;
const t0 = performance.now();
const weights = (process.argv[3] ?? 'auto') as 'auto' | 'compact' | 'f32';
const model = await RwkvModel.load(file, { weights });
const loadMs = performance.now() - t0;
const t1 = performance.now();
const { logits } = await model.forward([1, 2, 3]);
const forwardMs = performance.now() - t1;
const status = readFileSync('/proc/self/status', 'utf8');
const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
const finite = Array.from(logits as Float32Array).every(Number.isFinite);
console.log(
  JSON.stringify({
    peakRssBytes: kb('VmHWM') * 1024,
    rssBytes: kb('VmRSS') * 1024,
    loadMs,
    forwardMs,
    finite,
    version: model.config.version,
    params: model.config.nParams,
    weightBytes: model.weightBytes,
  }),
);
