// rwkv.cpp `.bin` reader (layout: rwkv.cpp docs/FILE_FORMAT.md; converter changes: docs/fixtures.md).
//
//   header   six int32 LE: magic 0x67676d66 ("ggmf"), file version (100 or 101), n_vocab, n_embed,
//            n_layer, data_type (of most tensors)
//   records  until EOF: int32 dim_count, int32 key_length, int32 data_type, dim_count int32 dims in
//            reverse (ggml) order, key_length bytes of UTF-8 key, then the raw little-endian data:
//            FP32 4 bytes a value, FP16 2, quantized (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) ggml's blocks of
//            32 values along each row (ggml-quants.ts), so a quantized row length (the first ggml
//            dim) is a multiple of 32.
//
// Reading is lazy: the header and every record header are parsed from a ByteSource, skipping
// over the data by its computed size; each tensor's bytes are read (and decoded) only when its
// `data` is accessed. Every length is checked against the bytes that are left before anything is
// read or allocated, so a hostile file gives an RwkvError (never a hang, a RangeError or an
// allocation larger than the file).
//
// rwkv.cpp's converter (python/convert_pytorch_to_ggml.py) does not store the checkpoint as it
// was: it squeezes `.time_*` tensors, pre-computes some decays through exp, transposes LoRA
// matrices and concatenates the RWKV-7 token-shift mixes. `parseRwkvCppBin` undoes all of that
// (on access, tensor by tensor) and returns the original checkpoint layout (keys and shapes of
// BlinkDL's `.pth` files), so the rest of the library sees one layout whatever the file format.
// Each transform is commented where it is undone, with the converter rule it inverts;
// rwkvcpp-write.ts applies the same rules forwards.

import type { RwkvVersion } from '../constants.ts';
import { RwkvError, shapeString } from '../errors.ts';
import { decodeToF32 } from '../tensor/float.ts';
import { type GgmlQuantType, QK, blockBytes, dequantize } from './ggml-quants.ts';
import { type ByteSource, MemorySource } from './source.ts';
import { type Checkpoint, type HostTensor, lazyTensor, numel } from '../tensor/tensor.ts';

export const RWKV_CPP_MAGIC = 0x67676d66;

/** File versions rwkv.cpp writes. 101 changed only the quantized layouts (FILE_FORMAT.md). */
export const RWKV_CPP_FILE_VERSIONS: readonly number[] = [100, 101];

export const RWKV_CPP_HEADER_BYTES = 24;
const RECORD_HEADER_BYTES = 12;
/** rwkv.cpp's own reader accepts 1, 2 or 3 dims (rwkv_file_format.inc, rwkv_fread_tensor_header). */
export const RWKV_CPP_MAX_DIMS = 3;
/** Keys are names like `blocks.11.att.time_mix_k`; anything this long is not a key. */
export const RWKV_CPP_MAX_KEY_BYTES = 1024;

/** rwkv.cpp data type ids (rwkv_file_format.inc `enum rwkv_type`). */
const DTYPE_NAMES = ['FP32', 'FP16', 'Q4_0', 'Q4_1', 'Q4_1_O', 'Q4_2', 'Q4_3', 'Q5_0', 'Q5_1', 'Q8_0'] as const;
/** Removed from rwkv.cpp itself; no current file has them. */
const REMOVED_DTYPES = new Set([4, 5, 6]);

/** How a record is stored: the library's dtype names (tensor.ts `StoredDType`). */
export type RwkvCppDType = 'F32' | 'F16' | GgmlQuantType;
const DTYPE_OF_ID: Readonly<Record<number, RwkvCppDType>> = { 0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 7: 'Q5_0', 8: 'Q5_1', 9: 'Q8_0' };
/** rwkv.cpp's data type id of each dtype (the writer's inverse of DTYPE_OF_ID). */
export const RWKV_CPP_DTYPE_ID: Readonly<Record<RwkvCppDType, number>> = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q5_0: 7, Q5_1: 8, Q8_0: 9 };

export interface RwkvCppHeader {
  readonly version: number;
  readonly nVocab: number;
  readonly nEmbed: number;
  readonly nLayer: number;
  /** data type id of most tensors (0 FP32, 1 FP16, 2+ quantized) */
  readonly dataType: number;
}

/** One tensor record as stored: PyTorch-order shape (dims un-reversed), where its data lies. */
export interface RwkvCppRecord {
  /** position in the file, from 0 */
  readonly index: number;
  readonly key: string;
  readonly shape: readonly number[];
  readonly storedAs: RwkvCppDType;
  /** byte offset of the record header in the file */
  readonly offset: number;
  /** byte offset and length of the data */
  readonly dataOffset: number;
  readonly dataBytes: number;
  /** The stored bytes (read from the source on each call). */
  bytes(): Uint8Array;
  /** The stored values decoded to float32 (read and decoded on each call). */
  values(): Float32Array;
}

export interface RwkvCppFile {
  readonly header: RwkvCppHeader;
  /** in file order */
  readonly records: readonly RwkvCppRecord[];
}

/** Bytes that `count` values take in `dtype` (count a multiple of 32 for the quantized types). */
export function rwkvCppDataBytes(dtype: RwkvCppDType, count: number): number {
  if (dtype === 'F32') return 4 * count;
  if (dtype === 'F16') return 2 * count;
  return (count / QK) * blockBytes(dtype);
}

type Details = { tensor?: string; expected?: string; actual?: string; hint?: string };

/**
 * Read the header and the record headers, without undoing the converter's changes (for tools
 * that want to see the file as it is; the model wants `parseRwkvCppBin`). No tensor data is read.
 */
export function readRwkvCppFile(input: ByteSource | Uint8Array, file?: string): RwkvCppFile {
  const src = input instanceof Uint8Array ? new MemorySource(input, file) : input;
  const name = file ?? src.name;
  const fail = (message: string, more: Details = {}) => new RwkvError('FILE_FORMAT', message, { file: name, ...more });
  const size = src.size;

  if (size < RWKV_CPP_HEADER_BYTES) {
    throw fail('too short for an rwkv.cpp header', { expected: `>= ${RWKV_CPP_HEADER_BYTES} bytes`, actual: `${size} bytes` });
  }
  const hb = src.read(0, RWKV_CPP_HEADER_BYTES);
  const hv = new DataView(hb.buffer, hb.byteOffset, hb.byteLength);
  const magic = hv.getUint32(0, true);
  if (magic !== RWKV_CPP_MAGIC) {
    throw fail('not an rwkv.cpp model file (bad magic)', {
      expected: `0x${RWKV_CPP_MAGIC.toString(16)}`,
      actual: `0x${magic.toString(16).padStart(8, '0')}`,
    });
  }
  const i32 = (o: number) => hv.getInt32(o, true);
  const header: RwkvCppHeader = { version: i32(4), nVocab: i32(8), nEmbed: i32(12), nLayer: i32(16), dataType: i32(20) };
  if (!RWKV_CPP_FILE_VERSIONS.includes(header.version)) {
    throw fail('unsupported rwkv.cpp file version', { expected: RWKV_CPP_FILE_VERSIONS.join(' or '), actual: `${header.version}` });
  }
  for (const [n, v] of [
    ['n_vocab', header.nVocab],
    ['n_embed', header.nEmbed],
    ['n_layer', header.nLayer],
  ] as const) {
    if (v <= 0) throw fail(`header ${n} must be positive`, { expected: '> 0', actual: `${v}` });
  }
  if (header.dataType < 0 || header.dataType >= DTYPE_NAMES.length) {
    throw fail('header data type is out of range', { expected: `0..${DTYPE_NAMES.length - 1}`, actual: `${header.dataType}` });
  }

  const records: RwkvCppRecord[] = [];
  const seen = new Set<string>();
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let o = RWKV_CPP_HEADER_BYTES;
  while (o < size) {
    const index = records.length;
    const offset = o;
    const where = `tensor record #${index} at byte ${offset}`;
    if (size - o < RECORD_HEADER_BYTES) {
      throw fail(`truncated ${where}: the record header needs ${RECORD_HEADER_BYTES} bytes`, { actual: `${size - o} bytes left` });
    }
    // One read covers the record header, the dims and the longest key there can be (or the rest
    // of the file): a file source then issues one small read per record.
    const chunk = src.read(o, Math.min(size - o, RECORD_HEADER_BYTES + 4 * RWKV_CPP_MAX_DIMS + RWKV_CPP_MAX_KEY_BYTES));
    const rv = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const dimCount = rv.getInt32(0, true);
    const keyLength = rv.getInt32(4, true);
    const dtypeId = rv.getInt32(8, true);
    o += RECORD_HEADER_BYTES;
    if (dimCount < 1 || dimCount > RWKV_CPP_MAX_DIMS) {
      throw fail(`${where}: bad dimension count`, { expected: `1..${RWKV_CPP_MAX_DIMS}`, actual: `${dimCount}` });
    }
    if (keyLength < 1 || keyLength > RWKV_CPP_MAX_KEY_BYTES) {
      throw fail(`${where}: bad key length`, { expected: `1..${RWKV_CPP_MAX_KEY_BYTES} bytes`, actual: `${keyLength}` });
    }
    if (size - o < 4 * dimCount + keyLength) {
      throw fail(`truncated ${where}: dims and key run past the end of the file`, {
        expected: `${4 * dimCount + keyLength} bytes`,
        actual: `${size - o} bytes left`,
      });
    }
    const ggmlDims: number[] = [];
    for (let d = 0; d < dimCount; d++) ggmlDims.push(rv.getInt32(RECORD_HEADER_BYTES + 4 * d, true));
    let key: string;
    try {
      const k0 = RECORD_HEADER_BYTES + 4 * dimCount;
      key = utf8.decode(chunk.subarray(k0, k0 + keyLength));
    } catch {
      throw fail(`${where}: the key is not valid UTF-8`);
    }
    o += 4 * dimCount + keyLength;
    // ggml lists the fastest-varying dimension first; PyTorch (and this library) the slowest.
    const shape = [...ggmlDims].reverse();

    // The data type is checked once the key is known, so the error can name the tensor.
    if (dtypeId < 0 || dtypeId >= DTYPE_NAMES.length) {
      throw fail(`${where}: unknown data type id`, {
        tensor: key,
        expected: '0 (FP32), 1 (FP16), 2, 3, 7, 8 or 9 (quantized)',
        actual: `${dtypeId}`,
      });
    }
    if (REMOVED_DTYPES.has(dtypeId)) {
      const n = DTYPE_NAMES[dtypeId]!;
      throw new RwkvError('UNSUPPORTED_DTYPE', `tensor is stored in ${n}, a format rwkv.cpp itself removed`, {
        file: name,
        tensor: key,
        expected: 'FP32, FP16, Q4_0, Q4_1, Q5_0, Q5_1 or Q8_0',
        actual: n,
        hint: 're-convert or re-quantize the model with a current rwkv.cpp',
      });
    }
    const dtype = DTYPE_OF_ID[dtypeId]!;
    if (dtype !== 'F32' && dtype !== 'F16' && header.version < 101) {
      // FILE_FORMAT.md: version 101 (2023-05-27) changed every quantized layout, and ggml changed
      // its block layouts more than once while rwkv.cpp wrote version 100 (nibble order, f32 vs
      // f16 scales) without the file saying which. rwkv.cpp itself refuses these files.
      throw new RwkvError(
        'UNSUPPORTED_FORMAT',
        `${dtype} tensor in an rwkv.cpp file of version ${header.version}: its quantized block layout predates ggml's current one and the file does not say which layout it used`,
        {
          file: name,
          tensor: key,
          expected: 'file version 101 for quantized tensors',
          actual: `version ${header.version}`,
          hint: 're-quantize the FP16/FP32 model with a current rwkv.cpp (rwkv.cpp itself cannot load this file either), or use the FP16/FP32 file',
        },
      );
    }
    if (seen.has(key)) throw fail(`${where}: duplicate tensor key`, { tensor: key });
    seen.add(key);

    for (const d of shape) {
      if (d < 1) throw fail(`${where}: bad dimension`, { tensor: key, expected: 'every dim >= 1', actual: shapeString(shape) });
    }
    const rowLength = ggmlDims[0]!;
    if (dtype !== 'F32' && dtype !== 'F16' && rowLength % QK !== 0) {
      throw fail(`${where}: a ${dtype} row holds whole blocks of ${QK} values`, {
        tensor: key,
        expected: `a row length (last dim) that is a multiple of ${QK}`,
        actual: shapeString(shape),
      });
    }
    const left = size - o;
    // Multiply dim by dim and stop as soon as the size passes what is left: no overflow, no
    // allocation for a shape the file cannot hold.
    const bytesPer = rwkvCppDataBytes(dtype, QK) / QK;
    let count = 1;
    for (const d of shape) {
      count *= d;
      if (count * bytesPer > left) break;
    }
    if (count * bytesPer > left) {
      throw fail(`${where}: truncated tensor data`, {
        tensor: key,
        expected: `${numel(shape) * bytesPer} bytes for ${dtype} ${shapeString(shape)} at byte ${o}`,
        actual: `${left} bytes left`,
      });
    }
    const dataOffset = o;
    const dataBytes = rwkvCppDataBytes(dtype, count);
    const n = count;
    const bytes = () => src.read(dataOffset, dataBytes);
    records.push({
      index,
      key,
      shape,
      storedAs: dtype,
      offset,
      dataOffset,
      dataBytes,
      bytes,
      values: () => (dtype === 'F32' || dtype === 'F16' ? decodeToF32(bytes(), 0, n, dtype) : dequantize(dtype, bytes(), n)),
    });
    o += dataBytes;
  }
  return { header, records };
}

// ---- undoing the converter ----

/**
 * The RWKV version of a checkpoint as rwkv.cpp's converter tells it apart, named as the model's
 * version registry names versions (src/model/registry.ts). The converter's own tests look at
 * block 0 only (`blocks.0.att.k_k` → v7, `time_maa_x` → v6, `ln_x` → v5, `gate` → 5.2, else v4);
 * here any block counts, and v5 is split by the bonus tensor's name, which is what decides the
 * shapes: `time_faaaa` (5.2: per-channel (H,N) decay and bonus) or `time_first` (model.py 5.0/5.1:
 * per-head (H,) decay and log-space bonus; rwkv.cpp calls this "v5.1"), then 5.1 by its gate.
 * Works on the stored keys and on the original checkpoint keys alike.
 */
export function detectRwkvCppVersion(keys: Iterable<string>, file: string): RwkvVersion {
  let v7 = false;
  let v6 = false;
  let lnx = false;
  let faaaa = false;
  let timeFirst = false;
  let timeDecay = false;
  let gate = false;
  let deepEmbed = false;
  for (const k of keys) {
    if (/\.att\.(k_k|x_rwkvag)$/.test(k)) v7 = true;
    else if (/\.att\.time_maa_x$/.test(k)) v6 = true;
    else if (/\.att\.ln_x\.weight$/.test(k)) lnx = true;
    else if (/\.att\.time_faaaa$/.test(k)) faaaa = true;
    else if (/\.att\.time_first$/.test(k)) timeFirst = true;
    else if (/\.att\.time_decay$/.test(k)) timeDecay = true;
    else if (/\.att\.gate\.weight$/.test(k)) gate = true;
    else if (/\.ffn\.s_emb\.weight$/.test(k)) deepEmbed = true;
  }
  if (v7) return deepEmbed ? '7-deepembed' : '7';
  if (v6) return '6';
  if (lnx) {
    if (faaaa) return '5.2';
    if (timeFirst) return gate ? '5.1' : '5.0';
  } else if (timeFirst && timeDecay) {
    return '4';
  }
  throw new RwkvError('UNKNOWN_ARCHITECTURE', 'the tensor names match no RWKV version rwkv.cpp writes', {
    file,
    expected:
      'att.k_k (v7), att.time_maa_x (v6), att.ln_x with att.time_faaaa (v5.2) or att.time_first (v5.0, v5.1), or att.time_first/time_decay (v4)',
  });
}

/** The v7 token-shift mixes the converter concatenates into `att.x_rwkvag`, in its order. */
export const V7_SHIFT_MIXES = ['x_r', 'x_w', 'x_k', 'x_v', 'x_a', 'x_g'] as const;

/** 2-D (rows, cols) row-major → (cols, rows). */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = data[i * cols + j]!;
  return out;
}

/** 3-D (a, b, c) row-major → (a, c, b). */
export function transpose12(data: Float32Array, a: number, b: number, c: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let s = 0; s < a; s++) {
    const base = s * b * c;
    for (let i = 0; i < b; i++) for (let j = 0; j < c; j++) out[base + j * b + i] = data[base + i * c + j]!;
  }
  return out;
}

/** Where a tensor of a parsed checkpoint came from: one whole record. */
export interface RwkvCppOrigin {
  readonly record: RwkvCppRecord;
  /** true when the checkpoint tensor's values are the stored values, only reshaped */
  readonly unchanged: boolean;
}
const origins = new WeakMap<HostTensor, RwkvCppOrigin>();

/**
 * The record a tensor of `parseRwkvCppBin`'s checkpoint was read from, or undefined for any other
 * tensor (and for the six parts of a v7 `x_rwkvag`). The writer uses it to write back the stored
 * bytes themselves where it would store the same key, shape and dtype: the converter's exp
 * transforms are not exactly invertible in float32 (several stored values can map to one float32
 * parameter), so recomputing them could move a value by an ulp; the stored bytes cannot.
 */
export function rwkvCppOrigin(t: HostTensor): RwkvCppOrigin | undefined {
  return origins.get(t);
}

/**
 * Invert an elementwise transform the converter applied in float32. The inverse is computed in
 * float64 and rounded once to float32 (as the fixtures' .safetensors were made, docs/fixtures.md
 * "rwkv.cpp .bin files"). `valid` is the converter's range; anything outside it (or NaN) cannot
 * have come from the converter and is rejected (when the tensor is read) rather than turned into NaN.
 */
function inverted(
  values: Float32Array,
  inverse: (s: number) => number,
  valid: (s: number) => boolean,
  range: string,
  fail: (message: string, expected?: string, actual?: string) => RwkvError,
): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < out.length; i++) {
    const s = values[i]!;
    if (!valid(s)) throw fail(`value at index ${i} cannot come from rwkv.cpp's converter`, range, `${s}`);
    out[i] = inverse(s);
  }
  return out;
}

// v4: stored -exp(w)          → w = log(-s),       s in [-inf, 0]
const invNegExp = (s: number) => Math.log(-s);
const validNegExp = (s: number) => s <= 0;
// v5: stored exp(-exp(w))     → w = log(-log(s)),  s in [0, 1]
const invExpNegExp = (s: number) => Math.log(-Math.log(s));
const validExpNegExp = (s: number) => s >= 0 && s <= 1;
// v5.0/5.1 bonus: stored exp(u) → u = log(s),      s in [0, inf]
const invExp = (s: number) => Math.log(s);
const validExp = (s: number) => s >= 0;

/**
 * Parse an rwkv.cpp `.bin` file and return the tensors in the original checkpoint layout
 * (keys and shapes of the `.pth` the converter read). Shapes, keys and layout rules are checked
 * now; each tensor's data is read, decoded (quantized types dequantized) and untransformed when
 * its `data` is accessed, so a value the converter cannot have written is reported then.
 */
export function parseRwkvCppBin(input: ByteSource | Uint8Array, file?: string): Checkpoint {
  const src = input instanceof Uint8Array ? new MemorySource(input, file) : input;
  const name = file ?? src.name;
  const { header, records } = readRwkvCppFile(src, name);
  const fail = (message: string, tensor: string, expected?: string, actual?: string) =>
    new RwkvError('FILE_FORMAT', message, {
      file: name,
      tensor,
      ...(expected !== undefined ? { expected } : {}),
      ...(actual !== undefined ? { actual } : {}),
    });

  const emb = records.find((r) => r.key === 'emb.weight');
  if (emb !== undefined && (emb.shape.length !== 2 || emb.shape[0] !== header.nVocab || emb.shape[1] !== header.nEmbed)) {
    throw fail(
      'embedding shape disagrees with the file header',
      emb.key,
      `[n_vocab ${header.nVocab}, n_embed ${header.nEmbed}]`,
      shapeString(emb.shape),
    );
  }

  const version = detectRwkvCppVersion(
    records.map((r) => r.key),
    name,
  );
  const v7 = version === '7' || version === '7-deepembed';
  const v5PerHead = version === '5.0' || version === '5.1';
  const out: Checkpoint = new Map();
  const put = (key: string, t: HostTensor) => {
    if (out.has(key)) throw fail('duplicate tensor key after undoing the converter', key);
    out.set(key, t);
  };

  /** The record as stored, reshaped to `shape` (same values, same order). */
  const asIs = (r: RwkvCppRecord, shape: readonly number[]) => {
    if (numel(shape) !== numel(r.shape)) {
      throw fail('tensor has the wrong number of values', r.key, `${numel(shape)} values for ${shapeString(shape)}`, shapeString(r.shape));
    }
    const t = lazyTensor(shape, r.storedAs, r.values, r.bytes);
    origins.set(t, { record: r, unchanged: true });
    put(r.key, t);
  };
  /** The record through `f` (values, stored shape) → values of `shape`. */
  const changed = (r: RwkvCppRecord, shape: readonly number[], f: (v: Float32Array) => Float32Array) => {
    if (numel(shape) !== numel(r.shape)) {
      throw fail('tensor has the wrong number of values', r.key, `${numel(shape)} values for ${shapeString(shape)}`, shapeString(r.shape));
    }
    const t = lazyTensor(shape, r.storedAs, () => f(r.values()));
    origins.set(t, { record: r, unchanged: false });
    put(r.key, t);
  };
  const valueFail = (r: RwkvCppRecord) => (message: string, expected?: string, actual?: string) => fail(message, r.key, expected, actual);

  const transposedMatrix = (r: RwkvCppRecord) => {
    if (r.shape.length !== 2) throw fail('expected a matrix', r.key, '2 dims', shapeString(r.shape));
    const [rows, cols] = r.shape as [number, number];
    changed(r, [cols, rows], (v) => transpose2d(v, rows, cols));
  };

  /**
   * A per-head (H,N) tensor that the converter squeezed and then unsqueezed to (H,N,1). When H is 1
   * the squeeze also dropped the head axis, leaving (N,1) (or (N) if nothing was added back).
   */
  const headMatrixShape = (r: RwkvCppRecord): number[] => {
    const s = r.shape;
    if (s.length === 3 && s[2] === 1) return [s[0]!, s[1]!];
    if (s.length === 2 && s[1] === 1) return [1, s[0]!];
    if (s.length === 1) return [1, s[0]!];
    throw fail('unexpected shape for a per-head tensor', r.key, '(H, N, 1)', shapeString(r.shape));
  };

  for (const r of records) {
    const k = r.key;
    const leaf = k.slice(k.lastIndexOf('.') + 1); // last path component, e.g. "time_mix_k"
    const n = numel(r.shape);
    const vec = [1, 1, n];

    if (v7) {
      // Converter (v7 branch): every `att.x_*` of a block is concatenated on dim 0 into
      // `att.x_rwkvag` (6,1,C), in checkpoint order x_r, x_w, x_k, x_v, x_a, x_g (the order
      // rwkv.cpp's graph slices it in). Split it back into six (1,1,C).
      if (/\.att\.x_rwkvag$/.test(k)) {
        if (r.shape[0] !== 6 || n % 6 !== 0) {
          throw fail('cannot split the concatenated token-shift mixes', k, '(6, 1, C)', shapeString(r.shape));
        }
        const c = n / 6;
        const prefix = k.slice(0, -'x_rwkvag'.length);
        V7_SHIFT_MIXES.forEach((part, i) => {
          if (r.storedAs === 'F32' || r.storedAs === 'F16') {
            // Each part is a contiguous run of the record's bytes: read just that run.
            const width = r.storedAs === 'F32' ? 4 : 2;
            const dtype = r.storedAs;
            const bytes = () => src.read(r.dataOffset + i * c * width, c * width);
            put(
              prefix + part,
              lazyTensor([1, 1, c], dtype, () => decodeToF32(bytes(), 0, c, dtype), bytes),
            );
          } else {
            put(
              prefix + part,
              lazyTensor([1, 1, c], r.storedAs, () => r.values().slice(i * c, (i + 1) * c)),
            );
          }
        });
        continue;
      }
      // Converter: the LoRA matrices w1, w2, a1, a2, v1, v2, g1, g2 are written transposed.
      if (/\.att\.[wavg][12]$/.test(k)) {
        transposedMatrix(r);
        continue;
      }
      // Everything else (w0/a0/v0/k_k/k_a (1,1,C), r_k (H,N), ffn.x_k, matrices) is stored as in
      // the checkpoint: v7 has no `.time_*` keys, so nothing was squeezed.
      asIs(r, r.shape);
      continue;
    }

    if (!k.includes('.time_')) {
      asIs(r, r.shape);
      continue;
    }

    // From here on: `.time_*` tensors of v4–v6, all of which the converter squeezed first.
    if (/^time_mix_[a-z]$/.test(leaf) || /^time_maa_[a-z]$/.test(leaf)) {
      // token-shift mixes: (1,1,C) squeezed to (C)
      asIs(r, vec);
    } else if (version === '6' && (leaf === 'time_maa_w1' || leaf === 'time_decay_w1' || leaf === 'time_decay_w2')) {
      // v6: `time_maa_w1` (C,5D), `time_decay_w1` (C,Dd), `time_decay_w2` (Dd,C) transposed.
      transposedMatrix(r);
    } else if (version === '6' && leaf === 'time_maa_w2') {
      // v6: `time_maa_w2` (5,D,C) written with its last two dims swapped, (5,C,D).
      if (r.shape.length !== 3) throw fail('expected a 3-D tensor', k, '3 dims', shapeString(r.shape));
      const [a, b, c] = r.shape as [number, number, number];
      changed(r, [a, c, b], (v) => transpose12(v, a, b, c));
    } else if (version === '6' && leaf === 'time_decay') {
      // v6: raw w (1,1,C), squeezed and reshaped to (H,N,1) (older converters: left at (C)).
      asIs(r, vec);
    } else if ((version === '6' || version === '5.2') && leaf === 'time_faaaa') {
      // v5.2/v6: bonus u (H,N), raw, squeezed then unsqueezed to (H,N,1).
      asIs(r, headMatrixShape(r));
    } else if (version === '5.2' && leaf === 'time_decay') {
      // v5.2: (H,N) stored as exp(-exp(w)), unsqueezed to (H,N,1).
      changed(r, headMatrixShape(r), (v) => inverted(v, invExpNegExp, validExpNegExp, 'a value in [0, 1] (exp(-exp(w)))', valueFail(r)));
    } else if (v5PerHead && leaf === 'time_decay') {
      // model.py 5.0/5.1: per-head (H) stored as exp(-exp(w)), reshaped to (H,1,1) (5.1, with a
      // gate: unsqueezed to (H,1)).
      changed(r, [n], (v) => inverted(v, invExpNegExp, validExpNegExp, 'a value in [0, 1] (exp(-exp(w)))', valueFail(r)));
    } else if (v5PerHead && leaf === 'time_first') {
      // model.py 5.0/5.1: per-head bonus (H) stored as exp(u), reshaped to (H,1,1).
      changed(r, [n], (v) => inverted(v, invExp, validExp, 'a value >= 0 (exp(u))', valueFail(r)));
    } else if (version === '4' && leaf === 'time_decay') {
      // v4: (C) stored as -exp(w).
      changed(r, [n], (v) => inverted(v, invNegExp, validNegExp, 'a value <= 0 (-exp(w))', valueFail(r)));
    } else if (version === '4' && leaf === 'time_first') {
      // v4: (C), stored as is.
      asIs(r, r.shape);
    } else if (leaf === 'time_state') {
      // v6 state tuning (H,N,N): only the squeeze applies; it drops the head axis when H is 1.
      asIs(r, r.shape.length === 2 ? [1, ...r.shape] : r.shape);
    } else {
      // A `.time_*` tensor this reader has no rule for: its original shape cannot be known
      // (the squeeze lost it), so refuse it rather than hand back a guessed layout.
      throw new RwkvError('UNSUPPORTED_FORMAT', `no rule to restore this RWKV-${version} tensor from rwkv.cpp's squeezed layout`, {
        file: name,
        tensor: k,
        actual: shapeString(r.shape),
      });
    }
  }
  return out;
}
