// Writing checkpoints: the shared pieces every format writer uses.
//  - A writer streams a Checkpoint (original RWKV layout) to a ByteSink tensor by tensor, so
//    converting a big model never holds it in memory twice.
//  - writeFileAtomic writes to a temporary file next to the target and renames it into place
//    only when complete; on any error the temporary file is removed and the target untouched.
//  - encodeTensor gives a tensor's bytes in a target dtype, copying the stored bytes unchanged
//    when the dtype is the same (bit-exact round trips).

import { basename, closeSync, dirname, fsyncSync, join, openSync, renameSync, rmSync, writeSync } from '../platform/files.ts';
import { RwkvError } from '../errors.ts';
import { floatToBf16, floatToHalf } from '../tensor/float.ts';
import type { Checkpoint, HostTensor, StoredDType } from '../tensor/tensor.ts';

/** Float dtypes a writer can be asked for (`rwkv convert --dtype`). */
export type FloatDType = 'F32' | 'F16' | 'BF16';

export interface ByteSink {
  write(bytes: Uint8Array): void;
  /** Bytes written so far. */
  readonly position: number;
}

export interface WriteOptions {
  /** Store every tensor in this dtype; default: keep each tensor's stored dtype if the format has it, else F32. */
  dtype?: FloatDType;
  /** Called after each tensor: tensors done, tensors in all, bytes written. */
  onProgress?: (done: number, total: number, bytes: number) => void;
}

/** A checkpoint writer for one format. */
export interface CheckpointWriter {
  readonly format: string;
  /** Why this format cannot hold this checkpoint (e.g. GGUF for RWKV-4), or undefined if it can. */
  cannot(ckpt: Checkpoint): string | undefined;
  write(ckpt: Checkpoint, sink: ByteSink, options: WriteOptions): void;
}

const MAX_WRITE = 1 << 30;

/** A ByteSink collecting into memory (tests, small files). */
export class MemorySink implements ByteSink {
  private chunks: Uint8Array[] = [];
  position = 0;
  write(bytes: Uint8Array): void {
    this.chunks.push(bytes.slice());
    this.position += bytes.length;
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.position);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

/**
 * Write `path` atomically: `fill` writes to a temporary file in the same folder, which is
 * renamed over `path` only when `fill` returns. On failure the temporary file is removed.
 */
export function writeFileAtomic(path: string, fill: (sink: ByteSink) => void): void {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Date.now()}`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx');
    const handle = fd;
    const sink: ByteSink = {
      position: 0,
      write(bytes: Uint8Array) {
        // one writeSync is capped at 2 GiB − 1: write in pieces
        let done = 0;
        while (done < bytes.length) done += writeSync(handle, bytes, done, Math.min(MAX_WRITE, bytes.length - done));
        (this as { position: number }).position += bytes.length;
      },
    };
    fill(sink);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    if (e instanceof RwkvError) throw e;
    throw new RwkvError('INVALID_ARGUMENT', `cannot write the output file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, {
      file: path,
    });
  }
}

export const DTYPE_BYTES: Readonly<Record<FloatDType, number>> = { F32: 4, F16: 2, BF16: 2 };

/** The dtype a tensor is written in: the requested one, else its own if `supported`, else F32. */
export function targetDType(t: HostTensor, supported: readonly FloatDType[], requested?: FloatDType): FloatDType {
  if (requested !== undefined) return requested;
  return (supported as readonly StoredDType[]).includes(t.storedAs) ? (t.storedAs as FloatDType) : 'F32';
}

/** Little-endian bytes of `t` in `dtype`; the stored bytes themselves when nothing changes. */
export function encodeTensor(t: HostTensor, dtype: FloatDType): Uint8Array {
  if (t.storedAs === dtype && t.raw !== undefined) return t.raw();
  const data = t.data;
  const out = new Uint8Array(data.length * DTYPE_BYTES[dtype]);
  const view = new DataView(out.buffer);
  if (dtype === 'F32') for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i]!, true);
  else if (dtype === 'F16') for (let i = 0; i < data.length; i++) view.setUint16(i * 2, floatToHalf(data[i]!), true);
  else for (let i = 0; i < data.length; i++) view.setUint16(i * 2, floatToBf16(data[i]!), true);
  return out;
}
