// Where the kernel code comes from, in order:
//   1. the PTX embedded at package build time (ptx.generated.ts, written by scripts/build-ptx.mjs
//      with nvcc; git-ignored, so it may be missing), unless kernels.cu changed since;
//   2. NVRTC at first use, for the device's compute capability, cached on disk under
//      $RWKV_CUDA_CACHE_DIR (default: $XDG_CACHE_HOME or ~/.cache, then rwkv/cuda), keyed by the
//      source hash, the compute capability and the NVRTC version.
// The driver JIT-compiles either PTX for the GPU at hand (and keeps its own cache).

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RwkvError } from '../../errors.ts';
import { CUDA_ERROR, type CudaDriver, type Handle, Nvrtc } from './driver.ts';

/** What `scripts/build-ptx.mjs` writes into ptx.generated.ts. */
export interface EmbeddedPtx {
  PTX: string;
  PTX_ARCH: string;
  KERNELS_SHA256: string;
  NVCC_VERSION: string;
}

/** 'auto': embedded PTX, else NVRTC; 'ptx' / 'nvrtc': only that source (for checks). */
export type KernelSource = 'auto' | 'ptx' | 'nvrtc';

export interface LoadedKernels {
  module: Handle;
  /** How the code was obtained, for BackendCaps.description. */
  origin: string;
}

/** kernels.cu next to this module (src/), or the source tree's copy when running from dist/. */
export function readKernelSource(): { text: string; sha256: string } | undefined {
  const here = import.meta.url;
  const urls = [new URL('./kernels.cu', here), new URL('../../../../src/backends/cuda/kernels.cu', here)];
  for (const u of urls) {
    try {
      const text = readFileSync(fileURLToPath(u), 'utf8');
      return { text, sha256: createHash('sha256').update(text).digest('hex') };
    } catch {
      /* next */
    }
  }
  return undefined;
}

/** The embedded PTX module, or undefined when the generated file is absent. */
export async function readEmbeddedPtx(): Promise<EmbeddedPtx | undefined> {
  // a computed specifier: the file may not exist, and tsc must not resolve it
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const spec = new URL(`./ptx.generated${ext}`, import.meta.url).href;
  try {
    return (await import(spec)) as EmbeddedPtx;
  } catch {
    return undefined;
  }
}

function cacheDir(env: NodeJS.ProcessEnv): string {
  if (env['RWKV_CUDA_CACHE_DIR']) return env['RWKV_CUDA_CACHE_DIR'];
  return join(env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'rwkv', 'cuda');
}

const NUL = new Uint8Array([0]);
function cString(s: string): Uint8Array {
  const b = new TextEncoder().encode(s);
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  out.set(NUL, b.length);
  return out;
}

/** Load the kernel module for a device of compute capability `cc` (e.g. 90). */
export async function loadKernels(
  driver: CudaDriver,
  cc: number,
  source: KernelSource,
  env: NodeJS.ProcessEnv = process.env,
): Promise<LoadedKernels> {
  const reasons: string[] = [];
  const cu = readKernelSource();
  if (source !== 'nvrtc') {
    const emb = await readEmbeddedPtx();
    if (emb === undefined) reasons.push('no embedded PTX (run `npm run build:ptx` where nvcc is installed)');
    else if (cu !== undefined && cu.sha256 !== emb.KERNELS_SHA256)
      reasons.push('embedded PTX is stale (kernels.cu changed; rerun `npm run build:ptx`)');
    else {
      const r = driver.tryLoadModule(cString(emb.PTX));
      if ('module' in r) return { module: r.module, origin: `embedded PTX (${emb.PTX_ARCH}, nvcc ${emb.NVCC_VERSION})` };
      reasons.push(
        `the driver rejected the embedded PTX (${emb.PTX_ARCH}, nvcc ${emb.NVCC_VERSION}): ${driver.errorName(r.rc)}` +
          (r.rc === CUDA_ERROR.UNSUPPORTED_PTX_VERSION ? ' (the driver is older than that nvcc)' : ''),
      );
    }
    if (source === 'ptx') throw new RwkvError('CUDA_UNAVAILABLE', `no usable embedded PTX: ${reasons.join('; ')}`, { argument: 'kernels' });
  }
  if (cu === undefined) {
    throw new RwkvError('CUDA_UNAVAILABLE', `no kernel code: ${[...reasons, 'kernels.cu not found next to the cuda backend'].join('; ')}`, {
      argument: 'kernels',
    });
  }
  let nvrtc: Nvrtc;
  try {
    nvrtc = await Nvrtc.open(env);
  } catch (e) {
    throw new RwkvError('CUDA_UNAVAILABLE', `no kernel code: ${[...reasons, (e as Error).message].join('; ')}`, { argument: 'kernels' });
  }
  const dir = cacheDir(env);
  const key = `${cu.sha256.slice(0, 16)}-sm${cc}-nvrtc${nvrtc.version}.ptx`;
  const file = join(dir, key);
  let ptx: string | undefined;
  let origin = `NVRTC ${nvrtc.version} (cached ${file})`;
  try {
    ptx = readFileSync(file, 'utf8');
  } catch {
    /* not cached yet */
  }
  if (ptx === undefined) {
    // the device's own architecture first; an older NVRTC may not know it, then the oldest we support
    const archs = [`compute_${cc}`, 'compute_75'];
    let lastError: unknown;
    for (const arch of archs) {
      try {
        ptx = nvrtc.compile(cu.text, 'kernels.cu', [`--gpu-architecture=${arch}`, '--std=c++14']);
        origin = `NVRTC ${nvrtc.version} (${arch}, compiled now)`;
        break;
      } catch (e) {
        lastError = e;
      }
    }
    if (ptx === undefined) throw lastError;
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(`${file}.tmp`, ptx);
      renameSync(`${file}.tmp`, file);
    } catch {
      /* a read-only cache only costs a recompile next time */
    }
  }
  const r = driver.tryLoadModule(cString(ptx));
  if ('module' in r) return { module: r.module, origin: reasons.length > 0 ? `${origin}; ${reasons.join('; ')}` : origin };
  throw new RwkvError('CUDA_UNAVAILABLE', `the driver rejected the NVRTC PTX: ${driver.errorName(r.rc)} (${driver.errorText(r.rc)})`, {
    argument: 'kernels',
    hint: reasons.join('; '),
  });
}
