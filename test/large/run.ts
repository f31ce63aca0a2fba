// npm run test:large: a generated ≥ 2 GB BF16 checkpoint loads with peak RSS below
// file size + 10% + a fixed overhead (the runtime itself), measured in a child process and printed.
// Not part of `npm test` (it writes ~2.2 GB to the temp folder and takes minutes).
//   tsx test/large/run.ts [pth|safetensors] [n_layer]

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatBytes } from '../../src/util/progress.ts';

/** What a Node process with the library loaded uses before any weights (JIT, heap, buffers). */
const FIXED_OVERHEAD_BYTES = 256 * 1024 ** 2;
const MARGIN = 0.1;

const ext = process.argv[2] ?? 'pth';
const nLayer = process.argv[3];
const dir = mkdtempSync(join(tmpdir(), 'rwkv-large-'));
const file = join(dir, `large-rwkv7.${ext}`);
const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
try {
  const t0 = performance.now();
  execFileSync(process.execPath, ['--import', 'tsx', here('./generate.ts'), file, ...(nLayer ? [nLayer] : [])], { stdio: 'inherit' });
  const size = statSync(file).size;
  console.log(`generated ${file}: ${formatBytes(size)} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', here('./load-child.ts'), file, process.env['RWKV_LARGE_WEIGHTS'] ?? 'auto'],
    { encoding: 'utf8', maxBuffer: 1 << 20 },
  );
  const r = JSON.parse(out.trim().split('\n').at(-1)!);
  const limit = size * (1 + MARGIN) + FIXED_OVERHEAD_BYTES;
  console.log(
    `loaded RWKV-${r.version}, ${r.params} parameters in ${(r.loadMs / 1000).toFixed(1)} s; 3 tokens in ${(r.forwardMs / 1000).toFixed(1)} s; logits finite: ${r.finite}`,
  );
  console.log(
    `weights in memory: ${Object.entries(r.weightBytes)
      .map(([k, v]) => `${k} ${formatBytes(v as number)}`)
      .join(', ')}`,
  );
  console.log(
    `peak RSS ${formatBytes(r.peakRssBytes)} vs file ${formatBytes(size)}: ${(r.peakRssBytes / size).toFixed(3)}× (limit ${formatBytes(limit)} = file + ${MARGIN * 100}% + ${formatBytes(FIXED_OVERHEAD_BYTES)})`,
  );
  const ok = r.peakRssBytes <= limit && r.finite && size >= (nLayer ? 0 : 2e9);
  console.log(ok ? '1 passed, 0 failed' : '0 passed, 1 failed');
  process.exitCode = ok ? 0 : 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
