// A tensor on the host, as a loader hands it over: float32 values in row-major order plus the
// dtype it was stored in (for `rwkv info` and for converters that want to keep it).
// Loaders hand out lazy tensors: `data` reads and decodes the bytes from the file when it is
// accessed. The last DECODED_CACHE_SIZE decoded arrays (over all tensors) are kept, so a loop
// over `t.data[i]` (or over two tensors side by side) is cheap, while loading a big model never
// holds more than that many decoded tensors. (A WeakRef cache would not do: everything deref'd
// during one synchronous job stays alive until the job ends, i.e. the whole load.)
// Treat `data` as read-only: it may be the cached array.

import { RwkvError, shapeString } from '../errors.ts';

/** How a tensor is stored in its file. Quantized types are ggml's 32-weight blocks. */
export type StoredDType = 'F32' | 'F16' | 'BF16' | 'Q8_0' | 'Q4_0' | 'Q4_1' | 'Q5_0' | 'Q5_1';

export interface HostTensor {
  readonly shape: readonly number[];
  /** float32 values, row-major, length = product(shape); lazy tensors decode on each access */
  readonly data: Float32Array;
  readonly storedAs: StoredDType;
  /**
   * The stored bytes (little-endian, `storedAs` encoding, row-major in `shape`), when the
   * source can give them unchanged; converters use them to copy tensors bit-exactly.
   */
  readonly raw?: () => Uint8Array;
  /** A fresh decode that bypasses the cache (for one-pass consumers such as model loading). */
  readonly read?: () => Float32Array;
  /**
   * Decode straight into `dst` (length = product(shape)), where the source can: a loader then
   * fills a backend's memory without a host copy of the tensor.
   */
  readonly readInto?: (dst: Float32Array) => void;
}

/** The tensor's values, decoded afresh when the tensor is lazy (nothing is cached). */
export function readTensor(t: HostTensor): Float32Array {
  return t.read !== undefined ? t.read() : t.data;
}

/** How many decoded lazy tensors are kept (most recently used first). */
export const DECODED_CACHE_SIZE = 2;
const decodedCache: { owner: object; data: Float32Array }[] = [];

/** A tensor whose values are read (and decoded) from its source only when `data` is accessed. */
export function lazyTensor(
  shape: readonly number[],
  storedAs: StoredDType,
  decode: () => Float32Array,
  raw?: () => Uint8Array,
  decodeInto?: (dst: Float32Array) => void,
): HostTensor {
  const s = [...shape];
  const owner = {};
  const checked = (): Float32Array => {
    const d = decode();
    if (d.length !== numel(s)) {
      throw new RwkvError('SHAPE_MISMATCH', 'decoded tensor has the wrong number of values', {
        expected: `${numel(s)} for ${shapeString(s)}`,
        actual: `${d.length}`,
      });
    }
    return d;
  };
  return {
    shape: s,
    storedAs,
    read: checked,
    get data(): Float32Array {
      const at = decodedCache.findIndex((e) => e.owner === owner);
      if (at >= 0) {
        const [hit] = decodedCache.splice(at, 1);
        decodedCache.unshift(hit!);
        return hit!.data;
      }
      const d = checked();
      decodedCache.unshift({ owner, data: d });
      decodedCache.length = Math.min(decodedCache.length, DECODED_CACHE_SIZE);
      return d;
    },
    ...(raw !== undefined ? { raw } : {}),
    ...(decodeInto !== undefined
      ? {
          readInto: (dst: Float32Array) => {
            if (dst.length !== numel(s)) {
              throw new RwkvError('SHAPE_MISMATCH', 'decode target has the wrong number of values', {
                expected: `${numel(s)} for ${shapeString(s)}`,
                actual: `${dst.length}`,
              });
            }
            decodeInto(dst);
          },
        }
      : {}),
  };
}

/**
 * A checkpoint: tensors by their **original RWKV checkpoint keys and shapes** (what BlinkDL's
 * `.pth` files hold, e.g. `blocks.0.att.time_mix_k` of shape [1, 1, C]). Every loader returns
 * this layout, whatever the file format did to the tensors on disk (rwkv.cpp `.bin` files
 * are turned back into it), so that version detection, the reference and the model see one
 * layout.
 */
export type Checkpoint = Map<string, HostTensor>;

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function makeTensor(shape: readonly number[], data: Float32Array, storedAs: StoredDType = 'F32'): HostTensor {
  if (data.length !== numel(shape)) {
    throw new RwkvError('SHAPE_MISMATCH', 'tensor data length does not match its shape', {
      expected: `${numel(shape)} values for ${shapeString(shape)}`,
      actual: `${data.length}`,
    });
  }
  return { shape: [...shape], data, storedAs };
}

/** The tensor called `key`, or a MISSING_TENSOR error naming the file. */
export function requireTensor(ckpt: Checkpoint, key: string, file?: string): HostTensor {
  const t = ckpt.get(key);
  if (t === undefined) {
    throw new RwkvError('MISSING_TENSOR', 'tensor missing from the checkpoint', {
      ...(file !== undefined ? { file } : {}),
      tensor: key,
    });
  }
  return t;
}
