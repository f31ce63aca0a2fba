// rwkv.cpp `.bin` writer: an original-layout checkpoint → the file rwkv.cpp's converter
// (python/convert_pytorch_to_ggml.py) would write from it, file version 101, FP32 or FP16.
//
// The converter's transforms, applied here exactly as rwkvcpp.ts undoes them (docs/fixtures.md):
//   all      `.time_*` tensors squeezed (every size-1 dim dropped)
//   v4       `att.time_decay` → -exp(w)
//   v5.0/5.1 `att.time_decay` → exp(-exp(w)) as (H,1,1) ((H,1) with a gate, as the converter's
//            5.2 branch does), `att.time_first` → exp(u) as (H,1,1)
//   v5.2     `att.time_decay` → exp(-exp(w)), unsqueezed to (H,N,1); `att.time_faaaa` → (H,N,1)
//   v6       `time_maa_w1`, `time_decay_w1/_w2` transposed, `time_maa_w2` (5,D,C) → (5,C,D),
//            `time_decay` reshaped to (H,N,1) (H = rows of block 0's `time_faaaa`), `time_faaaa` → (H,N,1)
//   v7       each block's `att.x_r,x_w,x_k,x_v,x_a,x_g` (1,1,C) concatenated into `att.x_rwkvag`
//            (6,1,C) where the first of them stood; `w1,w2,a1,a2,v1,v2,g1,g2` transposed
//   FP16     a file of type FP16 stores a tensor as FP16 when it has 2+ dims (after the
//            transforms) and its key contains none of `.time_`, `.k_k`, `.k_a`, `.r_k`,
//            `.x_rwkvag`, `.x_k`, `.w0`, `.a0`, `.v0`; everything else stays FP32.
// The exps are evaluated as torch evaluates them on float32 tensors: each exp rounded to float32.
//
// Records are written in the checkpoint's key order (the converter walks the state dict in order).
// Header: magic, version 101, n_vocab and n_embed from `emb.weight`, n_layer = the number of
// consecutive `blocks.<i>.ln1.weight` from 0, data type 0 (FP32) or 1 (FP16).
//
// dtype (`options.dtype`): 'F32' → FP32 file, 'F16' → FP16 file, 'BF16' → refused (rwkv.cpp has
// no bf16). Default: FP16 when every tensor an FP16 file stores as FP16 is stored F16 in the
// checkpoint (nothing is rounded), else FP32, which holds F32, BF16, F16 and dequantized values
// exactly. Quantized output is not written (rwkv.cpp's own `rwkv_quantize` makes it from these files).
//
// Tensors read from an rwkv.cpp file (rwkvCppOrigin) are written back as their stored bytes when
// the record would get the same key, shape and dtype, so .bin → checkpoint → .bin is byte-exact
// even where the converter's exp cannot be inverted exactly in float32.
//
// The writer refuses (cannot) a checkpoint the reader could not turn back into the same keys and
// shapes: a `.time_*` tensor with no rule, a squeeze that loses a dim the reader cannot restore,
// an incomplete set of v7 token-shift mixes, more than 3 dims.

import type { RwkvVersion } from '../constants.ts';
import { RwkvError, shapeString } from '../errors.ts';
import {
  RWKV_CPP_DTYPE_ID,
  RWKV_CPP_MAGIC,
  RWKV_CPP_MAX_DIMS,
  RWKV_CPP_MAX_KEY_BYTES,
  V7_SHIFT_MIXES,
  detectRwkvCppVersion,
  rwkvCppOrigin,
  transpose12,
  transpose2d,
} from './rwkvcpp.ts';
import { type Checkpoint, type HostTensor, makeTensor, numel } from '../tensor/tensor.ts';
import { type ByteSink, type CheckpointWriter, DTYPE_BYTES, type WriteOptions, encodeTensor } from './write.ts';

/** Substrings of keys the converter keeps in FP32 in an FP16 file (besides 1-D tensors). */
const FP32_IN_FP16_FILE = ['.time_', '.k_k', '.k_a', '.r_k', '.x_rwkvag', '.x_k', '.w0', '.a0', '.v0'];

export interface RwkvCppWriteOptions extends WriteOptions {
  /**
   * Header version: 101 (default, what rwkv.cpp writes today) or 100 (older converters; FP32 and
   * FP16 records are the same in both, FILE_FORMAT.md).
   */
  fileVersion?: 100 | 101;
}

/** One record to write. */
interface Planned {
  readonly key: string;
  /** stored shape, PyTorch order */
  readonly shape: readonly number[];
  /** an FP16 file stores it as FP16 */
  readonly halfInFp16File: boolean;
  /** the checkpoint tensors it is made of (one, or six for x_rwkvag) */
  readonly sources: readonly HostTensor[];
  /** values only reshaped (the stored bytes are the source's) */
  readonly identity: boolean;
  /** the stored values, float32, row-major in `shape` */
  values(): Float32Array;
}

interface Plan {
  readonly nVocab: number;
  readonly nEmbed: number;
  readonly nLayer: number;
  readonly records: readonly Planned[];
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
const squeeze = (s: readonly number[]) => s.filter((d) => d !== 1);

// The converter's exps, as torch computes them on float32 tensors (each op rounded to float32).
const f = Math.fround;
const negExp = (w: number) => f(-Math.exp(w)); // v4 time_decay
const expNegExp = (w: number) => f(Math.exp(-f(Math.exp(w)))); // v5 time_decay
const exp = (u: number) => f(Math.exp(u)); // v5.0/5.1 time_first

function mapped(t: HostTensor, g: (x: number) => number): Float32Array {
  const d = t.data;
  const out = new Float32Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = g(d[i]!);
  return out;
}

class Refusal extends Error {}

/** The shape `rwkvcpp.ts` restores a squeezed (H,N) per-head tensor to (its headMatrixShape). */
function restoredHeadMatrix(stored: readonly number[]): readonly number[] | undefined {
  if (stored.length === 3 && stored[2] === 1) return [stored[0]!, stored[1]!];
  if (stored.length === 2 && stored[1] === 1) return [1, stored[0]!];
  if (stored.length === 1) return [1, stored[0]!];
  return undefined;
}

/** Lay out the records, or throw a Refusal saying why the checkpoint cannot be written. */
function plan(ckpt: Checkpoint): Plan {
  const refuse = (why: string): never => {
    throw new Refusal(why);
  };
  const emb = ckpt.get('emb.weight') ?? refuse('it has no emb.weight (the header takes n_vocab and n_embed from it)');
  if (emb.shape.length !== 2) refuse(`emb.weight is ${shapeString(emb.shape)}, not a matrix`);
  let nLayer = 0;
  while (ckpt.has(`blocks.${nLayer}.ln1.weight`)) nLayer++;
  if (nLayer === 0) refuse('it has no blocks.0.ln1.weight (the converter counts layers by blocks.<i>.ln1.weight)');

  let version: RwkvVersion;
  try {
    version = detectRwkvCppVersion(ckpt.keys(), '');
  } catch {
    return refuse('its tensor names match no RWKV version rwkv.cpp writes (v4, v5, v5.2, v6, v7)');
  }
  const v5PerHead = version === '5.0' || version === '5.1';
  const nHead = version === '6' ? ckpt.get('blocks.0.att.time_faaaa')?.shape[0] : undefined;

  const records: Planned[] = [];
  const emitted = new Set<string>();
  const add = (p: Omit<Planned, 'halfInFp16File'>) => {
    if (p.shape.length < 1 || p.shape.length > RWKV_CPP_MAX_DIMS) {
      refuse(`${p.key} would be stored as ${shapeString(p.shape)}; rwkv.cpp records have 1 to ${RWKV_CPP_MAX_DIMS} dims`);
    }
    const keyBytes = new TextEncoder().encode(p.key).length;
    if (keyBytes > RWKV_CPP_MAX_KEY_BYTES)
      refuse(`the key ${p.key.slice(0, 40)}… is ${keyBytes} bytes long (at most ${RWKV_CPP_MAX_KEY_BYTES})`);
    if (emitted.has(p.key)) refuse(`two tensors would be stored as ${p.key}`);
    emitted.add(p.key);
    const halfInFp16File = p.shape.length > 1 && FP32_IN_FP16_FILE.every((s) => !p.key.includes(s));
    records.push({ ...p, halfInFp16File });
  };
  /** A record the reader restores to `restored`; refuse unless that is the checkpoint's shape. */
  const rule = (
    key: string,
    t: HostTensor,
    shape: readonly number[],
    restored: readonly number[] | undefined,
    identity: boolean,
    values: () => Float32Array,
  ) => {
    if (restored === undefined || !sameShape(restored, t.shape)) {
      refuse(
        `${key} ${shapeString(t.shape)} would be stored as ${shapeString(shape)}, which reads back as ${restored === undefined ? 'nothing' : shapeString(restored)}`,
      );
    }
    add({ key, shape, sources: [t], identity, values });
  };
  const asIs = (key: string, t: HostTensor) => add({ key, shape: t.shape, sources: [t], identity: true, values: () => t.data });

  for (const [key, t] of ckpt) {
    const leaf = key.slice(key.lastIndexOf('.') + 1);
    if (version === '7' || version === '7-deepembed') {
      const mix = /^(blocks\.\d+\.att\.)x_[a-z]+$/.exec(key);
      if (mix !== null) {
        const prefix = mix[1]!;
        if (!(V7_SHIFT_MIXES as readonly string[]).includes(leaf))
          refuse(`${key}: rwkv.cpp concatenates only ${V7_SHIFT_MIXES.join(', ')} into x_rwkvag`);
        const stored = `${prefix}x_rwkvag`;
        if (emitted.has(stored)) continue; // written with the first of the six
        const parts = V7_SHIFT_MIXES.map(
          (m) => ckpt.get(prefix + m) ?? refuse(`${prefix}${m} is missing; x_rwkvag needs all of ${V7_SHIFT_MIXES.join(', ')}`),
        );
        const c = parts[0]!.shape[2];
        parts.forEach((p, i) => {
          if (p.shape.length !== 3 || p.shape[0] !== 1 || p.shape[1] !== 1 || p.shape[2] !== c) {
            refuse(`${prefix}${V7_SHIFT_MIXES[i]} is ${shapeString(p.shape)}; x_rwkvag concatenates six (1, 1, C)`);
          }
        });
        add({
          key: stored,
          shape: [6, 1, c!],
          sources: parts,
          identity: false,
          values: () => {
            const out = new Float32Array(6 * c!);
            parts.forEach((p, i) => out.set(p.data, i * c!));
            return out;
          },
        });
        continue;
      }
      if (/\.att\.[wavg][12]$/.test(key)) {
        if (t.shape.length !== 2) refuse(`${key} is ${shapeString(t.shape)}; the converter transposes it as a matrix`);
        const [r, c] = t.shape as [number, number];
        add({ key, shape: [c, r], sources: [t], identity: false, values: () => transpose2d(t.data, r, c) });
        continue;
      }
      if (key.includes('.time_')) refuse(`${key}: rwkv.cpp's RWKV-7 layout has no .time_ tensors`);
      asIs(key, t);
      continue;
    }

    if (!key.includes('.time_')) {
      asIs(key, t);
      continue;
    }
    // `.time_*` of v4–v6: squeezed first, then the branch's rule (mirroring rwkvcpp.ts).
    const sq = squeeze(t.shape);
    const n = numel(t.shape);
    if (/^time_mix_[a-z]$/.test(leaf) || /^time_maa_[a-z]$/.test(leaf)) {
      rule(key, t, sq, [1, 1, n], true, () => t.data);
    } else if (version === '6' && (leaf === 'time_maa_w1' || leaf === 'time_decay_w1' || leaf === 'time_decay_w2')) {
      if (sq.length !== 2) refuse(`${key} ${shapeString(t.shape)} squeezes to ${shapeString(sq)}, not a matrix to transpose`);
      const [r, c] = sq as [number, number];
      rule(key, t, [c, r], [r, c], false, () => transpose2d(t.data, r, c));
    } else if (version === '6' && leaf === 'time_maa_w2') {
      if (sq.length !== 3) refuse(`${key} ${shapeString(t.shape)} squeezes to ${shapeString(sq)}, not (5, D, C)`);
      const [a, b, c] = sq as [number, number, number];
      rule(key, t, [a, c, b], [a, b, c], false, () => transpose12(t.data, a, b, c));
    } else if (version === '6' && leaf === 'time_decay') {
      if (nHead === undefined || n % nHead !== 0) refuse(`${key}: reshaping to (H, N, 1) needs H from blocks.0.att.time_faaaa`);
      rule(key, t, [nHead!, n / nHead!, 1], [1, 1, n], true, () => t.data);
    } else if ((version === '6' || version === '5.2') && leaf === 'time_faaaa') {
      const shape = [...sq, 1];
      rule(key, t, shape, restoredHeadMatrix(shape), true, () => t.data);
    } else if (version === '5.2' && leaf === 'time_decay') {
      const shape = [...sq, 1];
      rule(key, t, shape, restoredHeadMatrix(shape), false, () => mapped(t, expNegExp));
    } else if (v5PerHead && leaf === 'time_decay') {
      // The converter's 5.2 branch (chosen by `gate.weight`) unsqueezes; its 5.1 branch reshapes.
      rule(key, t, version === '5.1' ? [...sq, 1] : [n, 1, 1], [n], false, () => mapped(t, expNegExp));
    } else if (v5PerHead && leaf === 'time_first') {
      rule(key, t, [n, 1, 1], [n], false, () => mapped(t, exp));
    } else if (version === '4' && leaf === 'time_decay') {
      rule(key, t, sq, [n], false, () => mapped(t, negExp));
    } else if (version === '4' && leaf === 'time_first') {
      rule(key, t, sq, sq, true, () => t.data);
    } else if (leaf === 'time_state') {
      rule(key, t, sq, sq.length === 2 ? [1, ...sq] : sq, true, () => t.data);
    } else {
      refuse(`${key}: no rule restores this RWKV-${version} tensor from rwkv.cpp's squeezed layout, so the file would not read back`);
    }
  }
  return { nVocab: emb.shape[0]!, nEmbed: emb.shape[1]!, nLayer, records };
}

function planOrThrow(ckpt: Checkpoint): Plan {
  try {
    return plan(ckpt);
  } catch (e) {
    if (e instanceof Refusal) throw new RwkvError('UNSUPPORTED_FORMAT', `rwkv.cpp .bin cannot hold this model: ${e.message}`);
    throw e;
  }
}

/** The FP16/FP32 choice (module comment). */
function fileIsFp16(p: Plan, requested: WriteOptions['dtype']): boolean {
  if (requested === 'BF16') {
    throw new RwkvError('UNSUPPORTED_DTYPE', 'rwkv.cpp .bin files have no bfloat16', {
      argument: 'dtype',
      expected: 'F32 (FP32 file; holds bf16 values exactly) or F16 (FP16 file)',
      actual: 'BF16',
    });
  }
  if (requested !== undefined) return requested === 'F16';
  const half = p.records.filter((r) => r.halfInFp16File);
  return half.length > 0 && half.every((r) => r.sources.every((s) => s.storedAs === 'F16'));
}

/** Write `ckpt` as an rwkv.cpp `.bin` (see the module comment). */
export function writeRwkvCppBin(ckpt: Checkpoint, sink: ByteSink, options: RwkvCppWriteOptions = {}): void {
  const p = planOrThrow(ckpt);
  const fp16 = fileIsFp16(p, options.dtype);
  const version = options.fileVersion ?? 101;
  if (version !== 100 && version !== 101) {
    throw new RwkvError('INVALID_ARGUMENT', 'unknown rwkv.cpp file version', {
      argument: 'fileVersion',
      expected: '100 or 101',
      actual: `${String(version)}`,
    });
  }
  const header = new DataView(new ArrayBuffer(24));
  [RWKV_CPP_MAGIC, version, p.nVocab, p.nEmbed, p.nLayer, fp16 ? 1 : 0].forEach((v, i) => header.setUint32(4 * i, v, true));
  sink.write(new Uint8Array(header.buffer));

  const utf8 = new TextEncoder();
  p.records.forEach((r, i) => {
    const dtype = fp16 && r.halfInFp16File ? 'F16' : 'F32';
    const key = utf8.encode(r.key);
    const rh = new DataView(new ArrayBuffer(12 + 4 * r.shape.length));
    rh.setInt32(0, r.shape.length, true);
    rh.setInt32(4, key.length, true);
    rh.setInt32(8, RWKV_CPP_DTYPE_ID[dtype], true);
    [...r.shape].reverse().forEach((d, j) => rh.setInt32(12 + 4 * j, d, true)); // ggml order
    sink.write(new Uint8Array(rh.buffer));
    sink.write(key);

    let data: Uint8Array;
    const origin = r.sources.length === 1 ? rwkvCppOrigin(r.sources[0]!) : undefined;
    if (
      origin !== undefined &&
      origin.record.key === r.key &&
      origin.record.storedAs === dtype &&
      sameShape(origin.record.shape, r.shape)
    ) {
      data = origin.record.bytes(); // the very bytes this record was read from
    } else if (r.identity) {
      data = encodeTensor(r.sources[0]!, dtype);
    } else {
      data = encodeTensor(makeTensor(r.shape, r.values(), 'F32'), dtype);
    }
    const want = numel(r.shape) * DTYPE_BYTES[dtype];
    if (data.length !== want) {
      throw new RwkvError('SHAPE_MISMATCH', 'tensor data does not match its shape', {
        tensor: r.key,
        expected: `${want} bytes for ${dtype} ${shapeString(r.shape)}`,
        actual: `${data.length} bytes`,
      });
    }
    sink.write(data);
    options.onProgress?.(i + 1, p.records.length, sink.position);
  });
}

export const rwkvCppWriter: CheckpointWriter = {
  format: 'rwkv.cpp',
  cannot(ckpt: Checkpoint): string | undefined {
    try {
      plan(ckpt);
      return undefined;
    } catch (e) {
      if (e instanceof Refusal) return e.message;
      throw e;
    }
  },
  write(ckpt: Checkpoint, sink: ByteSink, options: WriteOptions): void {
    writeRwkvCppBin(ckpt, sink, options);
  },
};
