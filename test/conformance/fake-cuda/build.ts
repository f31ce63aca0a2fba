// Builds the fake CUDA driver and NVRTC of this folder (README in fakecuda.cpp) into a temp
// folder: kernels.cu compiled for the CPU with emu.h, plus one wrapper per kernel that unpacks
// cuLaunchKernel's `void **params` by the kernel's own parameter types. Needs g++ and gcc;
// returns why not when they are missing.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const KERNELS = fileURLToPath(new URL('../../../src/backends/cuda/kernels.cu', import.meta.url));

export interface FakeCuda {
  dir: string;
  env: NodeJS.ProcessEnv;
}

function has(cmd: string): boolean {
  return spawnSync(cmd, ['--version'], { encoding: 'utf8' }).status === 0;
}

/** `kernels.cu` as g++ input: the emulation prelude, the source, a launch wrapper per kernel. */
export function emulationSource(cu: string): string {
  const wrappers: string[] = [];
  const names: string[] = [];
  for (const m of cu.matchAll(/extern "C" __global__ void (\w+)\(([^)]*)\)/g)) {
    const name = m[1]!;
    const types = m[2]!.split(',').map((p) => {
      const t = /^(.*?)\s*\b(\w+)$/.exec(p.trim());
      if (!t) throw new Error(`cannot parse parameter "${p}" of ${name}`);
      return t[1]!;
    });
    wrappers.push(`static void emu_wrap_${name}(void** p) { ${name}(${types.map((t, i) => `*(${t}*)p[${i}]`).join(', ')}); }`);
    names.push(name);
  }
  return [
    '#define RWKV_CUDA_EMULATION 1',
    '#include "emu.h"',
    cu.replaceAll('extern __shared__', 'extern'),
    ...wrappers,
    `extern const emu_kernel emu_kernels[] = {${names.map((n) => `{"${n}", emu_wrap_${n}}`).join(', ')}};`,
    `extern const int emu_kernel_count = ${names.length};`,
    '',
  ].join('\n');
}

export function buildFakeCuda(): FakeCuda | { reason: string } {
  if (process.platform !== 'linux') return { reason: `the fake CUDA driver is built for Linux only (this is ${process.platform})` };
  for (const c of ['g++', 'gcc']) if (!has(c)) return { reason: `${c} not found` };
  const dir = mkdtempSync(join(tmpdir(), 'rwkv-fake-cuda-'));
  writeFileSync(join(dir, 'kernels.emu.cpp'), emulationSource(readFileSync(KERNELS, 'utf8')));
  const steps: [string, string[]][] = [
    [
      'g++',
      [
        '-std=c++17',
        '-O2',
        '-U_FORTIFY_SOURCE',
        '-D_FORTIFY_SOURCE=0',
        '-fPIC',
        '-shared',
        '-Wall',
        '-Wno-unknown-pragmas',
        '-Wno-unused-function',
        `-I${HERE}`,
        '-o',
        join(dir, 'libcuda.so.1'),
        join(HERE, 'fakecuda.cpp'),
        join(dir, 'kernels.emu.cpp'),
      ],
    ],
    ['gcc', ['-O2', '-fPIC', '-shared', '-Wall', '-o', join(dir, 'libnvrtc.so.12'), join(HERE, 'fakenvrtc.c')]],
  ];
  for (const [cmd, args] of steps) {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`building the fake CUDA failed: ${cmd} ${args.join(' ')}\n${r.stderr}`);
    if (r.stderr.trim() !== '') console.warn(`fake cuda build warnings (${cmd}):\n${r.stderr}`);
  }
  return {
    dir,
    env: { RWKV_CUDA_DRIVER_DIR: dir, RWKV_CUDA_NVRTC_DIR: dir, RWKV_CUDA_CACHE_DIR: join(dir, 'cache') },
  };
}
