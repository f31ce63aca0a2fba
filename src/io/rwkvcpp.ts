// rwkv.cpp `.bin` reader (layout: rwkv.cpp docs/FILE_FORMAT.md; fixtures README §4).
//
//   header   six int32 LE: magic 0x67676d66 ("ggmf"), file version (100 or 101), n_vocab, n_embed,
//            n_layer, data_type (of most tensors)
//   records  until EOF: int32 dim_count, int32 key_length, int32 data_type, dim_count int32 dims in
//            reverse (ggml) order, key_length bytes of UTF-8 key, then the raw little-endian data
//
// rwkv.cpp's converter (python/convert_pytorch_to_ggml.py) does not store the checkpoint as it
// was: it squeezes `.time_*` tensors, pre-computes some decays through exp, transposes LoRA
// matrices and concatenates the RWKV-7 token-shift mixes. `parseRwkvCppBin` undoes all of that
// and returns the original checkpoint layout (keys and shapes of BlinkDL's `.pth` files), so the
// rest of the library sees one layout whatever the file format. Each transform is commented where
// it is undone, with the converter rule it inverts.
//
// Every length is checked against the bytes that are left before anything is read or allocated,
// so a hostile file gives an RwkvError (never a hang, a RangeError or a huge allocation).

import { RwkvError, shapeString } from '../errors.ts';
import { decodeToF32 } from './float.ts';
import { type Checkpoint, type HostTensor, type StoredDType, makeTensor, numel } from './tensor.ts';

export const RWKV_CPP_MAGIC = 0x67676d66;

/** File versions rwkv.cpp writes. 101 changed only the quantized layouts (FILE_FORMAT.md). */
export const RWKV_CPP_FILE_VERSIONS: readonly number[] = [100, 101];

const HEADER_BYTES = 24;
const RECORD_HEADER_BYTES = 12;
/** rwkv.cpp's own reader accepts 1, 2 or 3 dims (rwkv_file_format.inc, rwkv_fread_tensor_header). */
const MAX_DIMS = 3;
/** Keys are names like `blocks.11.att.time_mix_k`; anything this long is not a key. */
const MAX_KEY_BYTES = 1024;

/** rwkv.cpp data type ids (rwkv_file_format.inc `enum rwkv_type`). */
const DTYPE_NAMES = ['FP32', 'FP16', 'Q4_0', 'Q4_1', 'Q4_1_O', 'Q4_2', 'Q4_3', 'Q5_0', 'Q5_1', 'Q8_0'] as const;
/** Removed from rwkv.cpp itself; no current file has them. */
const REMOVED_DTYPES = new Set([4, 5, 6]);

export interface RwkvCppHeader {
  readonly version: number;
  readonly nVocab: number;
  readonly nEmbed: number;
  readonly nLayer: number;
  /** data type id of most tensors (0 FP32, 1 FP16, 2+ quantized) */
  readonly dataType: number;
}

/** One tensor exactly as stored: PyTorch-order shape (dims un-reversed), values as float32. */
export interface RwkvCppRecord {
  readonly key: string;
  readonly shape: readonly number[];
  readonly storedAs: 'F32' | 'F16';
  readonly data: Float32Array;
}

export interface RwkvCppFile {
  readonly header: RwkvCppHeader;
  /** in file order */
  readonly records: readonly RwkvCppRecord[];
}

/**
 * Read the header and the records as stored, without undoing the converter's changes (for
 * tools that want to see the file as it is; the model wants `parseRwkvCppBin`).
 */
export function readRwkvCppFile(bytes: Uint8Array, file: string): RwkvCppFile {
  const fail = (message: string, more: { tensor?: string; expected?: string; actual?: string } = {}) =>
    new RwkvError('FILE_FORMAT', message, { file, ...more });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const i32 = (o: number) => view.getInt32(o, true);

  if (bytes.length < HEADER_BYTES) {
    throw fail('too short for an rwkv.cpp header', { expected: `>= ${HEADER_BYTES} bytes`, actual: `${bytes.length} bytes` });
  }
  const magic = view.getUint32(0, true);
  if (magic !== RWKV_CPP_MAGIC) {
    throw fail('not an rwkv.cpp model file (bad magic)', {
      expected: `0x${RWKV_CPP_MAGIC.toString(16)}`,
      actual: `0x${magic.toString(16).padStart(8, '0')}`,
    });
  }
  const header: RwkvCppHeader = { version: i32(4), nVocab: i32(8), nEmbed: i32(12), nLayer: i32(16), dataType: i32(20) };
  if (!RWKV_CPP_FILE_VERSIONS.includes(header.version)) {
    throw fail('unsupported rwkv.cpp file version', { expected: RWKV_CPP_FILE_VERSIONS.join(' or '), actual: `${header.version}` });
  }
  for (const [name, v] of [['n_vocab', header.nVocab], ['n_embed', header.nEmbed], ['n_layer', header.nLayer]] as const) {
    if (v <= 0) throw fail(`header ${name} must be positive`, { expected: '> 0', actual: `${v}` });
  }
  if (header.dataType < 0 || header.dataType >= DTYPE_NAMES.length) {
    throw fail('header data type is out of range', { expected: `0..${DTYPE_NAMES.length - 1}`, actual: `${header.dataType}` });
  }

  const records: RwkvCppRecord[] = [];
  const seen = new Set<string>();
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let o = HEADER_BYTES;
  while (o < bytes.length) {
    const index = records.length;
    const where = `tensor record #${index} at byte ${o}`;
    if (bytes.length - o < RECORD_HEADER_BYTES) {
      throw fail(`truncated ${where}: the record header needs ${RECORD_HEADER_BYTES} bytes`, {
        actual: `${bytes.length - o} bytes left`,
      });
    }
    const dimCount = i32(o);
    const keyLength = i32(o + 4);
    const dtype = i32(o + 8);
    o += RECORD_HEADER_BYTES;
    if (dimCount < 1 || dimCount > MAX_DIMS) {
      throw fail(`${where}: bad dimension count`, { expected: `1..${MAX_DIMS}`, actual: `${dimCount}` });
    }
    if (keyLength < 1 || keyLength > MAX_KEY_BYTES) {
      throw fail(`${where}: bad key length`, { expected: `1..${MAX_KEY_BYTES} bytes`, actual: `${keyLength}` });
    }
    if (bytes.length - o < 4 * dimCount + keyLength) {
      throw fail(`truncated ${where}: dims and key run past the end of the file`, {
        expected: `${4 * dimCount + keyLength} bytes`,
        actual: `${bytes.length - o} bytes left`,
      });
    }
    const ggmlDims: number[] = [];
    for (let d = 0; d < dimCount; d++) ggmlDims.push(i32(o + 4 * d));
    o += 4 * dimCount;
    let key: string;
    try {
      key = utf8.decode(bytes.subarray(o, o + keyLength));
    } catch {
      throw fail(`${where}: the key is not valid UTF-8`);
    }
    o += keyLength;
    // ggml lists the fastest-varying dimension first; PyTorch (and this library) the slowest.
    const shape = ggmlDims.reverse();

    // The data type is checked once the key is known, so the error can name the tensor.
    if (dtype < 0 || dtype >= DTYPE_NAMES.length) {
      throw fail('unknown data type id', { tensor: key, expected: '0 (FP32) or 1 (FP16)', actual: `${dtype}` });
    }
    if (dtype > 1) {
      const name = DTYPE_NAMES[dtype]!;
      throw new RwkvError('UNSUPPORTED_DTYPE', `tensor is stored in the quantized format ${name}`, {
        file,
        tensor: key,
        expected: 'FP32 or FP16',
        actual: name,
        hint: REMOVED_DTYPES.has(dtype)
          ? `${name} was removed from rwkv.cpp itself; re-convert the model to FP16`
          : `quantized rwkv.cpp files are not supported yet (they come later); use the FP16 or FP32 file${
              header.version === 100 ? ' (and note that file version 100 used an older quantized layout)' : ''
            }`,
      });
    }
    if (seen.has(key)) throw fail('duplicate tensor key', { tensor: key });
    seen.add(key);

    const bytesPer = dtype === 0 ? 4 : 2;
    const left = bytes.length - o;
    // Multiply dim by dim and stop as soon as the size passes what is left: no overflow, no
    // allocation for a shape the file cannot hold.
    let count = 1;
    for (const d of shape) {
      if (d < 1) throw fail('bad dimension', { tensor: key, expected: 'every dim >= 1', actual: shapeString(shape) });
      count *= d;
      if (count * bytesPer > left) break;
    }
    if (count * bytesPer > left) {
      throw fail('truncated tensor data', {
        tensor: key,
        expected: `${numel(shape) * bytesPer} bytes for ${dtype === 0 ? 'FP32' : 'FP16'} ${shapeString(shape)}`,
        actual: `${left} bytes left`,
      });
    }
    const storedAs = dtype === 0 ? 'F32' : 'F16';
    records.push({ key, shape, storedAs, data: decodeToF32(bytes, o, count, storedAs) });
    o += count * bytesPer;
  }
  return { header, records };
}

// ---- undoing the converter ----

/** Which converter branch wrote the file; decided from key names (as the converter itself did). */
export type RwkvCppArch = 'v4' | 'v5-per-head' | 'v5.2' | 'v6' | 'v7';

/**
 * The converter branch, from key names alone. The converter's own tests look at block 0 only
 * (`blocks.0.att.k_k` → v7, `time_maa_x` → v6, `ln_x` → v5, `gate` → 5.2, else v4); here any
 * block counts, and v5 is split by the bonus tensor's name, which is what decides the shapes:
 * `time_faaaa` (5.2: per-channel (H,N) decay and bonus) or `time_first` (model.py 5.0/5.1:
 * per-head (H,) decay and log-space bonus; rwkv.cpp calls this "v5.1").
 */
export function detectRwkvCppArch(keys: Iterable<string>, file: string): RwkvCppArch {
  let v7 = false;
  let v6 = false;
  let lnx = false;
  let faaaa = false;
  let timeFirst = false;
  let timeDecay = false;
  for (const k of keys) {
    if (/\.att\.(k_k|x_rwkvag)$/.test(k)) v7 = true;
    else if (/\.att\.time_maa_x$/.test(k)) v6 = true;
    else if (/\.att\.ln_x\.weight$/.test(k)) lnx = true;
    else if (/\.att\.time_faaaa$/.test(k)) faaaa = true;
    else if (/\.att\.time_first$/.test(k)) timeFirst = true;
    else if (/\.att\.time_decay$/.test(k)) timeDecay = true;
  }
  if (v7) return 'v7';
  if (v6) return 'v6';
  if (lnx) {
    if (faaaa) return 'v5.2';
    if (timeFirst) return 'v5-per-head';
  } else if (timeFirst && timeDecay) {
    return 'v4';
  }
  throw new RwkvError('UNKNOWN_ARCHITECTURE', 'the tensor names match no RWKV version rwkv.cpp writes', {
    file,
    expected: 'att.k_k (v7), att.time_maa_x (v6), att.ln_x with att.time_faaaa (v5.2) or att.time_first (v5), or att.time_first/time_decay (v4)',
  });
}

type Fail = (message: string, tensor: string, expected?: string, actual?: string) => RwkvError;

function reshaped(r: RwkvCppRecord, shape: readonly number[], fail: Fail): HostTensor {
  if (numel(shape) !== r.data.length) {
    throw fail('tensor has the wrong number of values', r.key, `${numel(shape)} values for ${shapeString(shape)}`, shapeString(r.shape));
  }
  return makeTensor(shape, r.data, r.storedAs);
}

/** 2-D (rows, cols) → (cols, rows), moving the data. */
function transposed2d(r: RwkvCppRecord, fail: Fail): HostTensor {
  if (r.shape.length !== 2) throw fail('expected a matrix', r.key, '2 dims', shapeString(r.shape));
  const [rows, cols] = r.shape as [number, number];
  const out = new Float32Array(r.data.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = r.data[i * cols + j]!;
  return makeTensor([cols, rows], out, r.storedAs);
}

/** 3-D (a, b, c) → (a, c, b), moving the data. */
function transposed12(r: RwkvCppRecord, fail: Fail): HostTensor {
  if (r.shape.length !== 3) throw fail('expected a 3-D tensor', r.key, '3 dims', shapeString(r.shape));
  const [a, b, c] = r.shape as [number, number, number];
  const out = new Float32Array(r.data.length);
  for (let s = 0; s < a; s++) {
    const base = s * b * c;
    for (let i = 0; i < b; i++) for (let j = 0; j < c; j++) out[base + j * b + i] = r.data[base + i * c + j]!;
  }
  return makeTensor([a, c, b], out, r.storedAs);
}

/**
 * A per-head (H,N) tensor that the converter squeezed and then unsqueezed to (H,N,1). When H is 1
 * the squeeze also dropped the head axis, leaving (N,1) (or (N) if nothing was added back).
 */
function headMatrixShape(r: RwkvCppRecord, fail: Fail): number[] {
  const s = r.shape;
  if (s.length === 3 && s[2] === 1) return [s[0]!, s[1]!];
  if (s.length === 2 && s[1] === 1) return [1, s[0]!];
  if (s.length === 1) return [1, s[0]!];
  throw fail('unexpected shape for a per-head tensor', r.key, '(H, N, 1)', shapeString(r.shape));
}

/**
 * Invert an elementwise transform the converter applied in float32. The inverse is computed in
 * float64 and rounded once to float32 (as the fixtures' .safetensors were made, README §4
 * "Reconstructed values"). `valid` is the converter's range; anything outside it (or NaN) cannot
 * have come from the converter and is rejected rather than turned into NaN.
 */
function inverted(
  r: RwkvCppRecord,
  shape: readonly number[],
  inverse: (s: number) => number,
  valid: (s: number) => boolean,
  range: string,
  fail: Fail,
): HostTensor {
  const out = new Float32Array(r.data.length);
  for (let i = 0; i < out.length; i++) {
    const s = r.data[i]!;
    if (!valid(s)) throw fail(`value at index ${i} cannot come from rwkv.cpp's converter`, r.key, range, `${s}`);
    out[i] = inverse(s);
  }
  return reshaped({ ...r, data: out }, shape, fail);
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
 * (keys and shapes of the `.pth` the converter read), values as float32.
 */
export function parseRwkvCppBin(bytes: Uint8Array, file: string): Checkpoint {
  const { header, records } = readRwkvCppFile(bytes, file);
  const fail: Fail = (message, tensor, expected, actual) =>
    new RwkvError('FILE_FORMAT', message, {
      file,
      tensor,
      ...(expected !== undefined ? { expected } : {}),
      ...(actual !== undefined ? { actual } : {}),
    });

  const emb = records.find((r) => r.key === 'emb.weight');
  if (emb !== undefined && (emb.shape.length !== 2 || emb.shape[0] !== header.nVocab || emb.shape[1] !== header.nEmbed)) {
    throw fail('embedding shape disagrees with the file header', emb.key, `[n_vocab ${header.nVocab}, n_embed ${header.nEmbed}]`, shapeString(emb.shape));
  }

  const arch = detectRwkvCppArch(records.map((r) => r.key), file);
  const out: Checkpoint = new Map();
  const put = (key: string, t: HostTensor) => {
    if (out.has(key)) throw fail('duplicate tensor key after undoing the converter', key);
    out.set(key, t);
  };

  for (const r of records) {
    const k = r.key;
    const name = k.slice(k.lastIndexOf('.') + 1); // last path component, e.g. "time_mix_k"
    const vec = [1, 1, r.data.length];

    if (arch === 'v7') {
      // Converter (v7 branch): every `att.x_*` of a block is concatenated on dim 0 into
      // `att.x_rwkvag` (6,1,C), in checkpoint order x_r, x_w, x_k, x_v, x_a, x_g (the order
      // rwkv.cpp's graph slices it in). Split it back into six (1,1,C).
      if (/\.att\.x_rwkvag$/.test(k)) {
        if (r.shape[0] !== 6 || r.data.length % 6 !== 0) {
          throw fail('cannot split the concatenated token-shift mixes', k, '(6, 1, C)', shapeString(r.shape));
        }
        const c = r.data.length / 6;
        const prefix = k.slice(0, -'x_rwkvag'.length);
        ['x_r', 'x_w', 'x_k', 'x_v', 'x_a', 'x_g'].forEach((part, i) => {
          put(prefix + part, makeTensor([1, 1, c], r.data.slice(i * c, (i + 1) * c), r.storedAs));
        });
        continue;
      }
      // Converter: the LoRA matrices w1, w2, a1, a2, v1, v2, g1, g2 are written transposed.
      if (/\.att\.[wavg][12]$/.test(k)) {
        put(k, transposed2d(r, fail));
        continue;
      }
      // Everything else (w0/a0/v0/k_k/k_a (1,1,C), r_k (H,N), ffn.x_k, matrices) is stored as in
      // the checkpoint: v7 has no `.time_*` keys, so nothing was squeezed.
      put(k, makeTensor(r.shape, r.data, r.storedAs));
      continue;
    }

    if (!k.includes('.time_')) {
      put(k, makeTensor(r.shape, r.data, r.storedAs));
      continue;
    }

    // From here on: `.time_*` tensors of v4–v6, all of which the converter squeezed first.
    if (/^time_mix_[a-z]$/.test(name) || /^time_maa_[a-z]$/.test(name)) {
      // token-shift mixes: (1,1,C) squeezed to (C)
      put(k, reshaped(r, vec, fail));
    } else if (arch === 'v6' && (name === 'time_maa_w1' || name === 'time_decay_w1' || name === 'time_decay_w2')) {
      // v6: `time_maa_w1` (C,5D), `time_decay_w1` (C,Dd), `time_decay_w2` (Dd,C) transposed.
      put(k, transposed2d(r, fail));
    } else if (arch === 'v6' && name === 'time_maa_w2') {
      // v6: `time_maa_w2` (5,D,C) written with its last two dims swapped, (5,C,D).
      put(k, transposed12(r, fail));
    } else if (arch === 'v6' && name === 'time_decay') {
      // v6: raw w (1,1,C), squeezed and reshaped to (H,N,1) (older converters: left at (C)).
      put(k, reshaped(r, vec, fail));
    } else if ((arch === 'v6' || arch === 'v5.2') && name === 'time_faaaa') {
      // v5.2/v6: bonus u (H,N), raw, squeezed then unsqueezed to (H,N,1).
      put(k, reshaped(r, headMatrixShape(r, fail), fail));
    } else if (arch === 'v5.2' && name === 'time_decay') {
      // v5.2: (H,N) stored as exp(-exp(w)), unsqueezed to (H,N,1).
      put(k, inverted(r, headMatrixShape(r, fail), invExpNegExp, validExpNegExp, 'a value in [0, 1] (exp(-exp(w)))', fail));
    } else if (arch === 'v5-per-head' && name === 'time_decay') {
      // model.py 5.0/5.1: per-head (H) stored as exp(-exp(w)), reshaped to (H,1,1).
      put(k, inverted(r, [r.data.length], invExpNegExp, validExpNegExp, 'a value in [0, 1] (exp(-exp(w)))', fail));
    } else if (arch === 'v5-per-head' && name === 'time_first') {
      // model.py 5.0/5.1: per-head bonus (H) stored as exp(u), reshaped to (H,1,1).
      put(k, inverted(r, [r.data.length], invExp, validExp, 'a value >= 0 (exp(u))', fail));
    } else if (arch === 'v4' && name === 'time_decay') {
      // v4: (C) stored as -exp(w).
      put(k, inverted(r, [r.data.length], invNegExp, validNegExp, 'a value <= 0 (-exp(w))', fail));
    } else if (arch === 'v4' && name === 'time_first') {
      // v4: (C), stored as is.
      put(k, makeTensor(r.shape, r.data, r.storedAs));
    } else if (name === 'time_state') {
      // v6 state tuning (H,N,N): only the squeeze applies; it drops the head axis when H is 1.
      put(k, reshaped(r, r.shape.length === 2 ? [1, ...r.shape] : r.shape, fail));
    } else {
      // A `.time_*` tensor this reader has no rule for: its original shape cannot be known
      // (the squeeze lost it), so refuse it rather than hand back a guessed layout.
      throw new RwkvError('UNSUPPORTED_FORMAT', `no rule to restore this ${arch} tensor from rwkv.cpp's squeezed layout`, {
        file,
        tensor: k,
        actual: shapeString(r.shape),
      });
    }
  }
  return out;
}
