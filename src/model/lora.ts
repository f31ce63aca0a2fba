// LoRA merge at load (`--lora FILE --lora-alpha A`): the checkpoints RWKV-LM-LoRA trains
// (Blealtan/RWKV-LM-LoRA) and rwkv.cpp's python/merge_lora_into_ggml.py merges.
//
// What such a checkpoint holds (RWKV-LM-LoRA src/model.py `LoraLinear`, src/trainer.py save):
//   - for each adapted Linear `P` (weight `P.weight`, [out, in]): `P.lora_A` [r, in] and
//     `P.lora_B` [out, r]; the layer computes x·Wᵀ + (alpha / r)·(x·Aᵀ)·Bᵀ, so the merged weight is
//       W' = W + (alpha / r) · B · A          r = lora_B.shape[1] = lora_A.shape[0]
//     alpha is a training hyper-parameter not stored in the file; the user passes it.
//     rwkv.cpp's merge script also accepts `P.lora_A.weight` / `P.lora_B.weight` (PEFT-style
//     module naming); both namings are read here.
//   - with the "time" / "ln" parts enabled, full tensors whose names contain `.time_` or `.ln`
//     (time_mix_*, time_decay, time_first, ln1/ln2/ln_x/ln_out …): these REPLACE the base tensors,
//     before any LoRA delta is added (merge_lora.py copies every LoRA-file tensor over the base
//     first; merge_lora_into_ggml.py replaces, then merges). Any other non-LoRA tensor in the file
//     is treated the same way.
// The checkpoint keys are the original RWKV layout on both sides (src/io returns that for every
// file format), so unlike rwkv.cpp's script no `.time_decay` transform is applied here.
//
// Stricter than the scripts: every pair must be complete and its shapes must fit its base tensor,
// and every tensor of the LoRA file must have a base tensor to go to (a LoRA of another model is
// refused rather than silently half-applied). Any other LoRA-like tensor (DoRA `lora_M`,
// web-rwkv's `P.lora.0` / `P.lora.1`) is refused as unsupported.
//
// The merge is lazy: the returned checkpoint's merged tensors compute W' when their `data` is
// read (and are dropped again like every lazy tensor), the others are the base tensors
// themselves, so merging never holds more than one merged matrix at a time.

import { RwkvError, shapeString } from '../errors.ts';
import { type Checkpoint, type HostTensor, type StoredDType, lazyTensor, numel } from '../tensor/tensor.ts';

interface Pair {
  a?: { key: string; t: HostTensor };
  b?: { key: string; t: HostTensor };
}

const LORA_KEY = /^(.+)\.lora_([AB])(\.weight)?$/;

/** The base tensor a LoRA prefix adapts: `P.weight`, else a bare `P`. */
function targetOf(base: Checkpoint, prefix: string): string | undefined {
  if (base.has(`${prefix}.weight`)) return `${prefix}.weight`;
  if (base.has(prefix)) return prefix;
  return undefined;
}

const squeeze = (s: readonly number[]) => s.filter((d) => d !== 1);

/**
 * `base` with `lora` merged in: W' = W + (alpha / r)·B·A for every LoRA pair, and the LoRA
 * file's full tensors in place of the base ones. `file` (the LoRA file) is named in errors.
 */
export function mergeLora(base: Checkpoint, lora: Checkpoint, alpha: number, file?: string): Checkpoint {
  const where = file !== undefined ? { file } : {};
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) {
    throw new RwkvError('INVALID_ARGUMENT', 'the LoRA alpha must be a finite number', { argument: 'lora-alpha', actual: String(alpha) });
  }

  const replacements = new Map<string, HostTensor>();
  const pairs = new Map<string, Pair>(); // by target key
  for (const [key, t] of lora) {
    const m = LORA_KEY.exec(key);
    if (m !== null) {
      const prefix = m[1]!;
      const target = targetOf(base, prefix);
      if (target === undefined) {
        throw new RwkvError('MISSING_TENSOR', 'the LoRA adapts a tensor the model does not have', {
          ...where,
          tensor: key,
          expected: `${prefix}.weight in the model`,
          hint: 'is the LoRA for this model?',
        });
      }
      const p = pairs.get(target) ?? {};
      const side = m[2] === 'A' ? 'a' : 'b';
      if (p[side] !== undefined) {
        throw new RwkvError('FILE_FORMAT', `two lora_${m[2]} tensors adapt the same tensor`, {
          ...where,
          tensor: key,
          actual: `${p[side].key} and ${key}`,
        });
      }
      p[side] = { key, t };
      pairs.set(target, p);
    } else if (/\.lora(_|\.|$)/.test(key)) {
      // e.g. DoRA's lora_M, or web-rwkv's own `P.lora.0` / `P.lora.1` naming
      throw new RwkvError('UNSUPPORTED_FORMAT', 'LoRA tensor of a kind this merge does not know', {
        ...where,
        tensor: key,
        expected: 'P.lora_A / P.lora_B (or P.lora_A.weight / P.lora_B.weight)',
      });
    } else {
      const b = base.get(key);
      if (b === undefined) {
        throw new RwkvError('MISSING_TENSOR', 'the LoRA file replaces a tensor the model does not have', {
          ...where,
          tensor: key,
          hint: 'is the LoRA for this model?',
        });
      }
      // rwkv.cpp squeezes `.time_*` tensors: accept the same values with other unit axes
      if (numel(t.shape) !== numel(b.shape) || shapeString(squeeze(t.shape)) !== shapeString(squeeze(b.shape))) {
        throw new RwkvError('SHAPE_MISMATCH', 'the LoRA file replaces a tensor with one of another shape', {
          ...where,
          tensor: key,
          expected: shapeString(b.shape),
          actual: shapeString(t.shape),
        });
      }
      replacements.set(key, t);
    }
  }

  // check every pair before building anything
  const merges = new Map<string, { a: HostTensor; b: HostTensor; rank: number }>();
  for (const [target, p] of pairs) {
    const have = (p.a ?? p.b)!.key;
    if (p.a === undefined || p.b === undefined) {
      const missing = have.replace(/lora_([AB])/, (_, s: string) => `lora_${s === 'A' ? 'B' : 'A'}`);
      throw new RwkvError('MISSING_TENSOR', `LoRA pair incomplete: ${have} has no partner`, { ...where, tensor: missing });
    }
    const W = base.get(target)!;
    const A = p.a.t;
    const B = p.b.t;
    const fits =
      W.shape.length === 2 &&
      A.shape.length === 2 &&
      B.shape.length === 2 &&
      A.shape[0]! >= 1 &&
      B.shape[1] === A.shape[0] &&
      B.shape[0] === W.shape[0] &&
      A.shape[1] === W.shape[1];
    if (!fits) {
      throw new RwkvError('SHAPE_MISMATCH', 'LoRA matrices do not fit the tensor they adapt', {
        ...where,
        tensor: target,
        expected:
          W.shape.length === 2
            ? `lora_A [r, ${W.shape[1]}] and lora_B [${W.shape[0]}, r] for ${shapeString(W.shape)}`
            : 'a matrix [out, in] to adapt',
        actual: `lora_A ${shapeString(A.shape)}, lora_B ${shapeString(B.shape)}, base ${shapeString(W.shape)}`,
      });
    }
    merges.set(target, { a: A, b: B, rank: A.shape[0]! });
  }

  const out: Checkpoint = new Map();
  for (const [key, t] of base) {
    const rep = replacements.get(key);
    const w = rep === undefined ? t : rep.shape.join() === t.shape.join() ? rep : reshaped(rep, t.shape);
    const m = merges.get(key);
    if (m === undefined || alpha === 0) {
      out.set(key, w);
      continue;
    }
    out.set(key, mergedTensor(w, m.a, m.b, alpha / m.rank));
  }
  return out;
}

/** `t` viewed with another shape of the same size (values and stored bytes unchanged). */
function reshaped(t: HostTensor, shape: readonly number[]): HostTensor {
  return lazyTensor(shape, t.storedAs, () => t.data, t.raw);
}

const FLOAT_TYPES: readonly StoredDType[] = ['F32', 'F16', 'BF16'];

/** W + scale·B·A, computed when read: each row in float64, rounded to float32 once. */
function mergedTensor(W: HostTensor, A: HostTensor, B: HostTensor, scale: number): HostTensor {
  const [rows, cols] = W.shape as [number, number];
  const r = A.shape[0]!;
  // a converter keeping dtypes writes the merged matrix in the base's float type; no raw bytes
  const storedAs: StoredDType = FLOAT_TYPES.includes(W.storedAs) ? W.storedAs : 'F32';
  return lazyTensor(W.shape, storedAs, () => {
    const w = W.data;
    const a = A.data;
    const b = B.data;
    const out = new Float32Array(rows * cols);
    const acc = new Float64Array(cols);
    for (let o = 0; o < rows; o++) {
      const row = o * cols;
      for (let i = 0; i < cols; i++) acc[i] = 0;
      for (let k = 0; k < r; k++) {
        const bk = b[o * r + k]!;
        if (bk === 0) continue;
        const ak = k * cols;
        for (let i = 0; i < cols; i++) acc[i]! += bk * a[ak + i]!;
      }
      for (let i = 0; i < cols; i++) out[row + i] = w[row + i]! + scale * acc[i]!;
    }
    return out;
  });
}
