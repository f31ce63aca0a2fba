// GGUF reader (llama.cpp's model format, versions 2 and 3) for RWKV-6 and RWKV-7 models.
//
// Layout (little-endian; gguf-py/gguf/constants.py, ggml/src/gguf.cpp):
//   magic "GGUF", u32 version, u64 tensor_count, u64 kv_count
//   kv_count × { string key, u32 value_type, value }       string = u64 length + UTF-8 bytes
//                                                          array  = u32 element type, u64 count, elements
//   tensor_count × { string name, u32 n_dims, n_dims × u64 ne (ggml order: ne[0] is contiguous),
//                    u32 ggml_type, u64 offset (relative to the data section) }
//   padding to `general.alignment` (default 32), then the data section.
//
// Every count and length is checked against the bytes left in the file before anything is
// allocated or read, so a damaged or hostile file gives an RwkvError quickly (never a hang or a
// huge allocation). The header is read through a small window of the source; tensor bytes are
// read only when a tensor's `data` is accessed.
//
// `parseGguf` returns the ORIGINAL RWKV checkpoint layout (BlinkDL's keys and shapes). llama.cpp's
// converter (convert_hf_to_gguf.py, Rwkv6Model / Rwkv7Model) renamed every tensor, squeezed the
// `[1, 1, C]` vectors, fused the token-shift mixes, transposed the LoRA matrices and (RWKV-6 from
// Hugging Face checkpoints) divided some weights by powers of two; each rule is undone below where
// the tensor is mapped, with the converter rule it inverts.

import { existsSync } from '../platform/files.ts';
import type { RwkvVersion } from '../constants.ts';
import { RwkvError, shapeString } from '../errors.ts';
import { decodeToF32 } from '../tensor/float.ts';
import { type GgmlQuantType, QK, blockBytes, dequantize } from './ggml-quants.ts';
import { type ByteSource, FileSource, MemorySource } from './source.ts';
import { type Checkpoint, type HostTensor, type StoredDType, lazyTensor, numel } from '../tensor/tensor.ts';

/** "GGUF" read as a little-endian u32. */
export const GGUF_MAGIC = 0x46554747;
export const GGUF_VERSIONS: readonly number[] = [2, 3];
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** ggml's GGML_MAX_DIMS */
const MAX_DIMS = 4;

/** GGUF metadata value types (gguf-py GGUFValueType). */
export const GgufType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufValueType = (typeof GgufType)[keyof typeof GgufType];

/** Smallest encoding of one value of each type (a string is at least its u64 length). */
const MIN_VALUE_BYTES: readonly number[] = [1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8];

/** A metadata value. 64-bit integers are numbers when they are safe integers, else bigints. */
export type GgufValue = number | bigint | boolean | string | readonly GgufValue[];

export interface GgufMetadataEntry {
  readonly type: GgufValueType;
  /** element type, for arrays */
  readonly elementType?: GgufValueType;
  readonly value: GgufValue;
}

/** ggml tensor types (ggml.h `enum ggml_type`). Only some can be read; the rest are named in errors. */
export const GGML_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: 'F32',
  1: 'F16',
  2: 'Q4_0',
  3: 'Q4_1',
  6: 'Q5_0',
  7: 'Q5_1',
  8: 'Q8_0',
  9: 'Q8_1',
  10: 'Q2_K',
  11: 'Q3_K',
  12: 'Q4_K',
  13: 'Q5_K',
  14: 'Q6_K',
  15: 'Q8_K',
  16: 'IQ2_XXS',
  17: 'IQ2_XS',
  18: 'IQ3_XXS',
  19: 'IQ1_S',
  20: 'IQ4_NL',
  21: 'IQ3_S',
  22: 'IQ2_S',
  23: 'IQ4_XS',
  24: 'I8',
  25: 'I16',
  26: 'I32',
  27: 'I64',
  28: 'F64',
  29: 'IQ1_M',
  30: 'BF16',
  34: 'TQ1_0',
  35: 'TQ2_0',
  39: 'MXFP4',
};

/** The ggml types this library reads, by id. */
export const GGML_TYPE_IDS: Readonly<Record<StoredDType, number>> = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  BF16: 30,
};
const READABLE: ReadonlyMap<number, StoredDType> = new Map(Object.entries(GGML_TYPE_IDS).map(([k, v]) => [v, k as StoredDType]));

export interface GgufTensorInfo {
  readonly name: string;
  /** ggml order: dims[0] is the contiguous (fastest-varying) dimension */
  readonly dims: readonly number[];
  /** row-major (PyTorch) shape: dims reversed */
  readonly shape: readonly number[];
  readonly type: number;
  /** e.g. "F16", "Q8_0", or "type 77" for ids ggml does not define */
  readonly typeName: string;
  /** the dtype we decode it as, or undefined when this library cannot read the type */
  readonly dtype: StoredDType | undefined;
  /** absolute offset of the data in the file */
  readonly offset: number;
  /** bytes of data (undefined for types we cannot size) */
  readonly bytes: number | undefined;
}

export interface GgufHeader {
  readonly file: string;
  readonly version: number;
  readonly alignment: number;
  /** absolute offset of the data section */
  readonly dataOffset: number;
  /** in file order */
  readonly metadata: ReadonlyMap<string, GgufMetadataEntry>;
  /** in file order */
  readonly tensors: readonly GgufTensorInfo[];
}

/** Reads the header through a window of the source, checking every length first. */
class Cursor {
  pos = 0;
  private buf: Uint8Array = new Uint8Array(0);
  private bufStart = 0;
  private view = new DataView(this.buf.buffer);
  private static readonly WINDOW = 1 << 20;
  private readonly decoder = new TextDecoder('utf-8');

  constructor(
    private readonly src: ByteSource,
    private readonly file: string,
  ) {}

  get remaining(): number {
    return this.src.size - this.pos;
  }

  fail(message: string, more: { tensor?: string; expected?: string; actual?: string } = {}): RwkvError {
    return new RwkvError('FILE_FORMAT', message, { file: this.file, ...more });
  }

  /** Offset of `n` bytes at `pos` inside the window (reading more of the file if needed). */
  private need(n: number, what: string): number {
    if (n > this.remaining) {
      throw this.fail(`${what} at offset ${this.pos} runs past the end of the file (truncated or damaged)`, {
        expected: `${n} bytes at ${this.pos}`,
        actual: `${this.remaining} bytes left in a file of ${this.src.size}`,
      });
    }
    const rel = this.pos - this.bufStart;
    if (rel >= 0 && rel + n <= this.buf.length) return rel;
    const len = Math.min(this.remaining, Math.max(n, Cursor.WINDOW));
    this.buf = this.src.read(this.pos, len);
    this.bufStart = this.pos;
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    return 0;
  }

  u8(what: string): number {
    const o = this.need(1, what);
    this.pos += 1;
    return this.view.getUint8(o);
  }
  u32(what: string): number {
    const o = this.need(4, what);
    this.pos += 4;
    return this.view.getUint32(o, true);
  }
  /** a u64 that must be a safe integer (counts, lengths, dims, offsets) */
  size(what: string): number {
    const o = this.need(8, what);
    this.pos += 8;
    const lo = this.view.getUint32(o, true);
    const hi = this.view.getUint32(o + 4, true);
    if (hi >= 0x200000) {
      throw this.fail(`${what} at offset ${this.pos - 8} is impossibly large`, {
        expected: `at most ${Number.MAX_SAFE_INTEGER}`,
        actual: `${(BigInt(hi) << 32n) | BigInt(lo)}`,
      });
    }
    return hi * 0x100000000 + lo;
  }
  string(what: string): string {
    const n = this.size(`${what} length`);
    const o = this.need(n, what);
    this.pos += n;
    return this.decoder.decode(this.buf.subarray(o, o + n));
  }
  scalar(type: number, what: string): GgufValue {
    switch (type) {
      case GgufType.UINT8:
        return this.u8(what);
      case GgufType.INT8: {
        const o = this.need(1, what);
        this.pos += 1;
        return this.view.getInt8(o);
      }
      case GgufType.UINT16: {
        const o = this.need(2, what);
        this.pos += 2;
        return this.view.getUint16(o, true);
      }
      case GgufType.INT16: {
        const o = this.need(2, what);
        this.pos += 2;
        return this.view.getInt16(o, true);
      }
      case GgufType.UINT32:
        return this.u32(what);
      case GgufType.INT32: {
        const o = this.need(4, what);
        this.pos += 4;
        return this.view.getInt32(o, true);
      }
      case GgufType.FLOAT32: {
        const o = this.need(4, what);
        this.pos += 4;
        return this.view.getFloat32(o, true);
      }
      case GgufType.BOOL: {
        const b = this.u8(what);
        if (b > 1) throw this.fail(`${what} is not a boolean`, { expected: '0 or 1', actual: `${b}` });
        return b === 1;
      }
      case GgufType.STRING:
        return this.string(what);
      case GgufType.UINT64: {
        const o = this.need(8, what);
        this.pos += 8;
        return safe(this.view.getBigUint64(o, true));
      }
      case GgufType.INT64: {
        const o = this.need(8, what);
        this.pos += 8;
        return safe(this.view.getBigInt64(o, true));
      }
      case GgufType.FLOAT64: {
        const o = this.need(8, what);
        this.pos += 8;
        return this.view.getFloat64(o, true);
      }
      default:
        throw this.fail(`${what} has an unknown value type`, { expected: 'a GGUF value type 0..12', actual: `${type}` });
    }
  }
}

function safe(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Bytes of `count` values of ggml type `type` whose rows are `ne0` long, or undefined if unknown. */
function tensorBytes(type: number, ne0: number, count: number): number | undefined {
  const dt = READABLE.get(type);
  if (dt === undefined) return undefined;
  if (dt === 'F32') return count * 4;
  if (dt === 'F16' || dt === 'BF16') return count * 2;
  if (ne0 % QK !== 0) return -1;
  return (count / QK) * blockBytes(dt as GgmlQuantType);
}

/**
 * Read a GGUF file's header: version, metadata and tensor infos (nothing of the tensor data).
 * Unknown tensor types are allowed here (so `rwkv info` can show any GGUF file); `parseGguf`
 * refuses them.
 */
export function readGgufHeader(src: ByteSource, file: string = src.name): GgufHeader {
  const c = new Cursor(src, file);
  if (src.size < 24) {
    throw c.fail('too short for a GGUF header', { expected: '>= 24 bytes', actual: `${src.size} bytes` });
  }
  const magic = c.u32('magic');
  if (magic !== GGUF_MAGIC) {
    throw c.fail('not a GGUF file (bad magic)', { expected: '"GGUF"', actual: `0x${magic.toString(16).padStart(8, '0')}` });
  }
  const version = c.u32('version');
  if (version > 0xffff && (version & 0xffff) === 0) {
    throw new RwkvError('UNSUPPORTED_FORMAT', 'big-endian GGUF files are not supported', {
      file,
      expected: 'a little-endian GGUF file',
      actual: `version field 0x${version.toString(16)} (byte-swapped ${version >>> 24})`,
    });
  }
  if (!GGUF_VERSIONS.includes(version)) {
    throw new RwkvError('UNSUPPORTED_FORMAT', `GGUF version ${version} is not supported`, {
      file,
      expected: `version ${GGUF_VERSIONS.join(' or ')}`,
      actual: `${version}`,
      ...(version === 1 ? { hint: 'GGUF v1 files predate RWKV support in llama.cpp; re-convert the model' } : {}),
    });
  }
  const nTensors = c.size('tensor count');
  const nKv = c.size('metadata count');
  // every entry takes at least: kv = key length (8) + type (4) + 1 byte; tensor = 8 + 4 + 4 + 8
  if (nKv * 13 + nTensors * 24 > c.remaining) {
    throw c.fail('the header counts more entries than the file can hold', {
      expected: `at most ${c.remaining} bytes of header entries`,
      actual: `${nKv} metadata entries and ${nTensors} tensors`,
    });
  }

  const metadata = new Map<string, GgufMetadataEntry>();
  for (let i = 0; i < nKv; i++) {
    const key = c.string(`metadata key #${i}`);
    if (metadata.has(key)) throw c.fail(`duplicate metadata key "${key}"`);
    const type = c.u32(`type of metadata "${key}"`) as GgufValueType;
    if (type === GgufType.ARRAY) {
      const et = c.u32(`element type of metadata "${key}"`) as GgufValueType;
      if (et === GgufType.ARRAY) throw c.fail(`metadata "${key}" is an array of arrays, which GGUF readers do not support`);
      if (MIN_VALUE_BYTES[et] === undefined) {
        throw c.fail(`metadata "${key}" has an unknown element type`, { expected: 'a GGUF value type 0..12', actual: `${et}` });
      }
      const n = c.size(`length of metadata "${key}"`);
      if (n * MIN_VALUE_BYTES[et]! > c.remaining) {
        throw c.fail(`metadata "${key}" claims more elements than the file can hold`, {
          expected: `at most ${Math.floor(c.remaining / MIN_VALUE_BYTES[et]!)} elements`,
          actual: `${n}`,
        });
      }
      const arr: GgufValue[] = new Array(n);
      for (let j = 0; j < n; j++) arr[j] = c.scalar(et, `metadata "${key}"[${j}]`);
      metadata.set(key, { type, elementType: et, value: arr });
    } else {
      metadata.set(key, { type, value: c.scalar(type, `metadata "${key}"`) });
    }
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const al = metadata.get('general.alignment');
  if (al !== undefined) {
    const a = al.value;
    if (typeof a !== 'number' || !Number.isInteger(a) || a <= 0 || (a & (a - 1)) !== 0 || a > 1 << 30) {
      throw c.fail('general.alignment must be a power of two', { actual: String(a) });
    }
    alignment = a;
  }

  const infos: { name: string; dims: number[]; type: number; offset: number }[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const name = c.string(`name of tensor #${i}`);
    if (names.has(name)) throw c.fail('duplicate tensor name', { tensor: name });
    names.add(name);
    const nDims = c.u32(`dimension count of ${name}`);
    if (nDims < 1 || nDims > MAX_DIMS) {
      throw c.fail('tensor has an impossible number of dimensions', { tensor: name, expected: `1..${MAX_DIMS}`, actual: `${nDims}` });
    }
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(c.size(`dimension ${d} of ${name}`));
    const type = c.u32(`type of ${name}`);
    const offset = c.size(`offset of ${name}`);
    infos.push({ name, dims, type, offset });
  }
  const dataOffset = Math.ceil(c.pos / alignment) * alignment;

  const tensors: GgufTensorInfo[] = infos.map(({ name, dims, type, offset }) => {
    let count = 1;
    for (const d of dims) {
      count *= d;
      if (!Number.isSafeInteger(count)) throw c.fail('tensor is impossibly large', { tensor: name, actual: `dims ${shapeString(dims)}` });
    }
    const typeName = GGML_TYPE_NAMES[type] ?? `type ${type}`;
    const bytes = tensorBytes(type, dims[0]!, count);
    if (bytes === -1) {
      throw c.fail(`a ${typeName} tensor's rows must be whole blocks of ${QK}`, {
        tensor: name,
        expected: `ne[0] a multiple of ${QK}`,
        actual: `ne ${shapeString(dims)}`,
      });
    }
    if (offset % alignment !== 0) {
      throw c.fail('tensor data is not aligned', { tensor: name, expected: `offset a multiple of ${alignment}`, actual: `${offset}` });
    }
    const abs = dataOffset + offset;
    if (bytes !== undefined && abs + bytes > src.size) {
      throw c.fail('tensor data lies outside the file (truncated or damaged)', {
        tensor: name,
        expected: `bytes [${abs}, ${abs + bytes}) within the file`,
        actual: `file of ${src.size} bytes`,
      });
    }
    return {
      name,
      dims,
      shape: [...dims].reverse(),
      type,
      typeName,
      dtype: READABLE.get(type),
      offset: abs,
      bytes,
    };
  });
  return { file, version, alignment, dataOffset, metadata, tensors };
}

/** A GGUF file's header, for `rwkv info` and tools: from a path, bytes or any ByteSource. */
export function readGgufMetadata(input: string | Uint8Array | ByteSource, file?: string): GgufHeader {
  if (typeof input === 'string' && !existsSync(input)) throw new RwkvError('FILE_NOT_FOUND', 'no such file', { file: input });
  const src = typeof input === 'string' ? new FileSource(input) : input instanceof Uint8Array ? new MemorySource(input, file) : input;
  return readGgufHeader(src, file ?? src.name);
}

/** Metadata values as a plain object (arrays longer than `maxArray` are cut, with a note). */
export function ggufMetadataObject(h: GgufHeader, maxArray = Infinity): Record<string, GgufValue> {
  const out: Record<string, GgufValue> = {};
  for (const [k, e] of h.metadata) {
    const v = e.value;
    out[k] = Array.isArray(v) && v.length > maxArray ? [...v.slice(0, maxArray), `… (${v.length} in all)`] : v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// GGUF tensors → the original RWKV checkpoint layout

/** Decode a whole tensor into float32 (row-major in its PyTorch shape). */
function decodeTensor(src: ByteSource, t: GgufTensorInfo): Float32Array {
  const n = numel(t.shape);
  const bytes = src.read(t.offset, t.bytes!);
  const dt = t.dtype!;
  if (dt === 'F32' || dt === 'F16' || dt === 'BF16') return decodeToF32(bytes, 0, n, dt);
  return dequantize(dt, bytes, n);
}

/** 2-D transpose: [r, c] → [c, r]. */
function transpose2(x: Float32Array, r: number, c: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = x[i * c + j]!;
  return out;
}

interface MapContext {
  readonly src: ByteSource;
  readonly file: string;
  readonly ckpt: Checkpoint;
}

function shapeError(ctx: MapContext, t: GgufTensorInfo, expected: string): RwkvError {
  return new RwkvError('SHAPE_MISMATCH', 'tensor has an unexpected shape for this architecture', {
    file: ctx.file,
    tensor: t.name,
    expected,
    actual: `${shapeString(t.shape)} (ggml ne ${shapeString(t.dims)})`,
  });
}

/** Add a mapped tensor; two GGUF tensors that map to one checkpoint key is a damaged file. */
function put(ctx: MapContext, key: string, t: HostTensor): void {
  if (ctx.ckpt.has(key)) {
    throw new RwkvError('FILE_FORMAT', 'two GGUF tensors hold the same checkpoint tensor', { file: ctx.file, tensor: key });
  }
  ctx.ckpt.set(key, t);
}

/** Same values, possibly a new shape (a squeeze / unsqueeze); raw bytes pass through unchanged. */
function asIs(ctx: MapContext, key: string, t: GgufTensorInfo, shape?: readonly number[], scale = 1): void {
  const s = shape ?? t.shape;
  if (numel(s) !== numel(t.shape)) throw shapeError(ctx, t, `${numel(s)} values for ${key} ${shapeString(s)}`);
  const decode =
    scale === 1
      ? () => decodeTensor(ctx.src, t)
      : () => {
          const x = decodeTensor(ctx.src, t);
          for (let i = 0; i < x.length; i++) x[i] = x[i]! * scale;
          return x;
        };
  put(ctx, key, lazyTensor(s, t.dtype!, decode, scale === 1 ? () => ctx.src.read(t.offset, t.bytes!) : undefined));
}

/** A 2-D tensor stored transposed: GGUF [a, b] → checkpoint [b, a]. */
function transposed(ctx: MapContext, key: string, t: GgufTensorInfo): void {
  if (t.shape.length !== 2) throw shapeError(ctx, t, `a matrix (${key} is stored transposed)`);
  const [a, b] = t.shape as [number, number];
  put(
    ctx,
    key,
    lazyTensor([b, a], t.dtype!, () => transpose2(decodeTensor(ctx.src, t), a, b)),
  );
}

/**
 * Slice `i` of `n` along the outermost dimension (the fused token-shift mixes), as [1, 1, C].
 * A slice is C contiguous values (whole blocks for quantized types), so raw bytes pass through.
 */
function slice(ctx: MapContext, key: string, t: GgufTensorInfo, i: number, n: number): void {
  const c = numel(t.shape) / n;
  if (t.shape[0] !== n || !Number.isInteger(c)) throw shapeError(ctx, t, `[${n}, 1, 1, C]`);
  const bytesPer = t.bytes! / n;
  put(
    ctx,
    key,
    lazyTensor(
      [1, 1, c],
      t.dtype!,
      () => decodeTensor(ctx.src, t).slice(i * c, (i + 1) * c),
      () => ctx.src.read(t.offset + i * bytesPer, bytesPer),
    ),
  );
}

function metaNumber(h: GgufHeader, key: string, required: true): number;
function metaNumber(h: GgufHeader, key: string, required: false): number | undefined;
function metaNumber(h: GgufHeader, key: string, required: boolean): number | undefined {
  const e = h.metadata.get(key);
  if (e === undefined) {
    if (!required) return undefined;
    throw new RwkvError('FILE_FORMAT', `GGUF metadata "${key}" is missing`, { file: h.file });
  }
  if (typeof e.value !== 'number' || !Number.isInteger(e.value) || e.value < 0) {
    throw new RwkvError('FILE_FORMAT', `GGUF metadata "${key}" must be a non-negative integer`, { file: h.file, actual: String(e.value) });
  }
  return e.value;
}

/**
 * llama.cpp's `general.architecture` of each RWKV version it runs, to the model's version name
 * (src/model/registry.ts names them alike); llama.cpp has no RWKV-4, RWKV-5 or DeepEmbed.
 */
export const GGUF_ARCHITECTURE_VERSIONS: Readonly<Record<string, RwkvVersion>> = { rwkv6: '6', rwkv7: '7' };

/** The architectures we read. */
export const GGUF_RWKV_ARCHITECTURES: readonly string[] = Object.keys(GGUF_ARCHITECTURE_VERSIONS);

/** The GGUF `general.architecture` of `version`, or undefined where llama.cpp has none. */
export function ggufArchitecture(version: RwkvVersion): string | undefined {
  return Object.keys(GGUF_ARCHITECTURE_VERSIONS).find((a) => GGUF_ARCHITECTURE_VERSIONS[a] === version);
}

/**
 * Parse a GGUF RWKV-6 / RWKV-7 model into the original checkpoint layout. Tensor data stays in
 * the source until a tensor's `data` is read; quantized tensors are dequantized then.
 */
export function parseGguf(src: ByteSource, file: string = src.name): Checkpoint {
  const h = readGgufHeader(src, file);
  const archEntry = h.metadata.get('general.architecture');
  if (archEntry === undefined || typeof archEntry.value !== 'string') {
    throw new RwkvError('FILE_FORMAT', 'GGUF metadata "general.architecture" is missing', { file });
  }
  const arch = archEntry.value;
  const version = Object.hasOwn(GGUF_ARCHITECTURE_VERSIONS, arch) ? GGUF_ARCHITECTURE_VERSIONS[arch] : undefined;
  if (version === undefined) {
    throw new RwkvError('UNKNOWN_ARCHITECTURE', `GGUF architecture "${arch}" is not an RWKV model this library runs`, {
      file,
      expected: 'general.architecture rwkv6 or rwkv7',
      actual: arch,
      ...(arch === 'rwkv6qwen2' || arch === 'arwkv7'
        ? { hint: `${arch} is a hybrid (RWKV time-mix on a Qwen model), not an RWKV checkpoint` }
        : {}),
    });
  }
  for (const t of h.tensors) {
    if (t.dtype === undefined) {
      throw new RwkvError('UNSUPPORTED_DTYPE', `tensor type ${t.typeName} cannot be read`, {
        file,
        tensor: t.name,
        expected: 'F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0 or Q5_1',
        actual: t.typeName,
        hint: 're-quantize the model with one of those types (llama-quantize), or convert it from the original weights',
      });
    }
  }
  const nLayer = metaNumber(h, `${arch}.block_count`, true);
  const nEmbd = metaNumber(h, `${arch}.embedding_length`, true);
  const headSize = metaNumber(h, `${arch}.wkv.head_size`, true);
  if (headSize === 0 || nEmbd % headSize !== 0) {
    throw new RwkvError('FILE_FORMAT', `${arch}.wkv.head_size must divide ${arch}.embedding_length`, {
      file,
      expected: `a divisor of ${nEmbd}`,
      actual: `${headSize}`,
    });
  }
  const nHead = nEmbd / headSize;
  // Hugging Face RWKV-6 checkpoints halve the residual stream every `rescale` layers; llama.cpp's
  // converter divides att.output and ffn.value of block b by 2^floor(b / rescale) to match, and
  // llama.cpp halves the stream at run time. The original checkpoint has neither: multiply back
  // (exact: a power of two). LayerNorm makes both forms compute the same model.
  const rescale = version === '6' ? (metaNumber(h, 'rwkv6.rescale_every_n_layers', false) ?? 0) : 0;

  const ckpt: Checkpoint = new Map();
  const ctx: MapContext = { src, file, ckpt };
  const vec = [1, 1, nEmbd];
  const unexpected = (t: GgufTensorInfo) =>
    new RwkvError('FILE_FORMAT', `tensor is not one llama.cpp's ${arch} model has`, {
      file,
      tensor: t.name,
      hint: 'the file may come from another converter or a newer llama.cpp',
    });

  for (const t of h.tensors) {
    switch (t.name) {
      case 'token_embd.weight':
        asIs(ctx, 'emb.weight', t);
        continue;
      case 'token_embd_norm.weight':
        asIs(ctx, 'blocks.0.ln0.weight', t, [nEmbd]);
        continue;
      case 'token_embd_norm.bias':
        asIs(ctx, 'blocks.0.ln0.bias', t, [nEmbd]);
        continue;
      case 'output_norm.weight':
        asIs(ctx, 'ln_out.weight', t, [nEmbd]);
        continue;
      case 'output_norm.bias':
        asIs(ctx, 'ln_out.bias', t, [nEmbd]);
        continue;
      case 'output.weight':
        asIs(ctx, 'head.weight', t);
        continue;
    }
    const m = /^blk\.(\d+)\.(.+)$/.exec(t.name);
    if (m === null) throw unexpected(t);
    const b = Number(m[1]);
    if (b >= nLayer) {
      throw new RwkvError('FILE_FORMAT', `tensor belongs to a block past ${arch}.block_count`, {
        file,
        tensor: t.name,
        expected: `blocks 0..${nLayer - 1}`,
        actual: `block ${b}`,
      });
    }
    const p = `blocks.${b}.`;
    const rest = m[2]!;
    // shared by both versions
    const norm = /^attn_norm(_2)?\.(weight|bias)$/.exec(rest);
    if (norm) {
      asIs(ctx, `${p}${norm[1] ? 'ln2' : 'ln1'}.${norm[2]}`, t, [nEmbd]);
      continue;
    }
    if (rest === 'time_mix_ln.weight' || rest === 'time_mix_ln.bias') {
      asIs(ctx, `${p}att.ln_x.${rest.slice(12)}`, t, [nEmbd]);
      continue;
    }
    const linear = /^(time_mix|channel_mix)_(key|value|receptance|gate|output)\.weight$/.exec(rest);
    if (linear) {
      const ffn = linear[1] === 'channel_mix';
      const scaled = rescale > 0 && ((ffn && linear[2] === 'value') || (!ffn && linear[2] === 'output'));
      if (t.shape.length !== 2) throw shapeError(ctx, t, 'a matrix');
      asIs(ctx, `${p}${ffn ? 'ffn' : 'att'}.${linear[2]}.weight`, t, undefined, scaled ? 2 ** Math.floor(b / rescale) : 1);
      continue;
    }
    if (version === '7') {
      // convert_hf_to_gguf Rwkv7Model: x_r..x_g stacked in that order into time_mix_lerp_fused
      // [6, 1, 1, C]; w1/a1/v1/g1 ([C, D]) and w2/a2/v2/g2 ([D, C]) transposed; every other
      // vector squeezed; r_k [H, N] flattened to [C]. Layer 0's v0/v1/v2 are dummies llama.cpp
      // requires (unused; the converter copies a0/a1/a2 there): they are not part of the model.
      let mm: RegExpExecArray | null;
      if (rest === 'time_mix_lerp_fused.weight') {
        const parts = ['x_r', 'x_w', 'x_k', 'x_v', 'x_a', 'x_g'];
        const n = t.shape[0] === 5 ? 5 : 6;
        parts.slice(0, n).forEach((x, i) => slice(ctx, `${p}att.${x}`, t, i, n));
      } else if ((mm = /^time_mix_([wavg])([012])\.weight$/.exec(rest))) {
        if (mm[1] === 'v' && b === 0) continue;
        const key = `${p}att.${mm[1]}${mm[2]}`;
        if (mm[2] === '0') asIs(ctx, key, t, vec);
        else transposed(ctx, key, t);
      } else if ((mm = /^time_mix_(k_k|k_a)\.weight$/.exec(rest))) {
        asIs(ctx, `${p}att.${mm[1]}`, t, vec);
      } else if (rest === 'time_mix_r_k.weight') {
        asIs(ctx, `${p}att.r_k`, t, [nHead, headSize]);
      } else if (rest === 'channel_mix_lerp_k.weight') {
        asIs(ctx, `${p}ffn.x_k`, t, vec);
      } else {
        throw unexpected(t);
      }
    } else {
      // convert_hf_to_gguf Rwkv6Model: time_maa_{w,k,v,r,g} stacked in that order into
      // time_mix_lerp_fused [5, 1, 1, C] (older files keep them as time_mix_lerp_*);
      // time_maa_w1 [C, 5D] and time_decay_w1 [C, Dd] / time_decay_w2 [Dd, C] transposed;
      // time_maa_w2 [5, D, C] permuted to [5, C, D]; time_maa_x, time_decay and the channel-mix
      // mixes squeezed; time_faaaa [H, N] unchanged.
      let mm: RegExpExecArray | null;
      if (rest === 'time_mix_lerp_fused.weight') {
        ['w', 'k', 'v', 'r', 'g'].forEach((x, i) => slice(ctx, `${p}att.time_maa_${x}`, t, i, 5));
      } else if ((mm = /^time_mix_lerp_([xwkvrg])\.weight$/.exec(rest))) {
        asIs(ctx, `${p}att.time_maa_${mm[1]}`, t, vec);
      } else if (rest === 'time_mix_w1.weight') {
        transposed(ctx, `${p}att.time_maa_w1`, t);
      } else if (rest === 'time_mix_w2.weight') {
        if (t.shape.length !== 3 || t.shape[0] !== 5 || t.shape[1] !== nEmbd) throw shapeError(ctx, t, `[5, ${nEmbd}, D]`);
        const [, c, d] = t.shape as [number, number, number];
        put(
          ctx,
          `${p}att.time_maa_w2`,
          lazyTensor([5, d, c], t.dtype!, () => {
            const x = decodeTensor(src, t);
            const out = new Float32Array(x.length);
            for (let k = 0; k < 5; k++) out.set(transpose2(x.subarray(k * c * d, (k + 1) * c * d), c, d), k * c * d);
            return out;
          }),
        );
      } else if (rest === 'time_mix_first.weight') {
        asIs(ctx, `${p}att.time_faaaa`, t, [nHead, headSize]);
      } else if (rest === 'time_mix_decay.weight') {
        asIs(ctx, `${p}att.time_decay`, t, vec);
      } else if ((mm = /^time_mix_decay_(w[12])\.weight$/.exec(rest))) {
        transposed(ctx, `${p}att.time_decay_${mm[1]}`, t);
      } else if ((mm = /^channel_mix_lerp_([kr])\.weight$/.exec(rest))) {
        asIs(ctx, `${p}ffn.time_maa_${mm[1]}`, t, vec);
      } else {
        throw unexpected(t);
      }
    }
  }
  return ckpt;
}

/** Parse GGUF bytes held in memory. */
export function parseGgufBytes(bytes: Uint8Array, file = '(memory)'): Checkpoint {
  return parseGguf(new MemorySource(bytes, file), file);
}
