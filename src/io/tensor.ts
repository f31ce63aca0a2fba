// A tensor on the host, as a loader hands it over: float32 values in row-major order plus the
// dtype it was stored in (for `rwkv info` and for converters that want to keep it).

import { RwkvError, shapeString } from '../errors.ts';

export type StoredDType = 'F32' | 'F16' | 'BF16';

export interface HostTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array; // row-major, length = product(shape)
  readonly storedAs: StoredDType;
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

export function makeTensor(
  shape: readonly number[],
  data: Float32Array,
  storedAs: StoredDType = 'F32',
): HostTensor {
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
