// .safetensors reader: u64 LE header length, a JSON header {name: {dtype, shape, data_offsets}},
// then the raw little-endian data; data_offsets are relative to the end of the header.
// Reads F32, F16 and BF16 (to float32 on access). Every length and offset is checked against
// the file before anything is read or allocated; tensor bytes are read lazily.

import { RwkvError, shapeString } from '../errors.ts';
import { decodeToF32 } from '../tensor/float.ts';
import { type ByteSource, MemorySource } from './source.ts';
import { type Checkpoint, type StoredDType, lazyTensor, numel } from '../tensor/tensor.ts';

/** The reference implementation refuses headers over 100 MB. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;
export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<'F32' | 'F16' | 'BF16', number>> = { F32: 4, F16: 2, BF16: 2 };

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

export function parseSafetensors(input: ByteSource | Uint8Array, file?: string): Checkpoint {
  const src = input instanceof Uint8Array ? new MemorySource(input, file) : input;
  const name = file ?? src.name;
  const fail = (message: string, more: { tensor?: string; expected?: string; actual?: string } = {}) =>
    new RwkvError('FILE_FORMAT', message, { file: name, ...more });
  if (src.size < 8) throw fail('too short to be a safetensors file', { expected: '>= 8 bytes', actual: `${src.size}` });
  const lenBytes = src.read(0, 8);
  const headerLen = Number(new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true));
  if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > src.size) {
    throw fail('safetensors header length is out of range', {
      expected: `<= ${Math.min(MAX_HEADER_BYTES, src.size - 8)}`,
      actual: `${headerLen}`,
    });
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(src.read(8, headerLen)));
  } catch (e) {
    throw fail(`safetensors header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw fail('safetensors header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = src.size - dataStart;
  const out: Checkpoint = new Map();
  for (const [key, rawEntry] of Object.entries(header)) {
    if (key === '__metadata__') continue;
    const e = rawEntry as HeaderEntry;
    if (!e || typeof e !== 'object' || !Array.isArray(e.shape) || !Array.isArray(e.data_offsets) || e.data_offsets.length !== 2) {
      throw fail('malformed header entry', { tensor: key, expected: '{dtype, shape, data_offsets}' });
    }
    if (!e.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw fail('malformed shape', { tensor: key, actual: JSON.stringify(e.shape) });
    if (!(e.dtype in SAFETENSORS_DTYPE_BYTES)) {
      throw new RwkvError('UNSUPPORTED_DTYPE', 'tensor dtype is not supported', {
        file: name,
        tensor: key,
        expected: 'F32, F16 or BF16',
        actual: String(e.dtype),
      });
    }
    const dtype = e.dtype as 'F32' | 'F16' | 'BF16';
    const [begin, end] = e.data_offsets;
    const n = numel(e.shape);
    if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || begin < 0 || end < begin || end > dataLen) {
      throw fail('data_offsets point outside the file', { tensor: key, expected: `within [0, ${dataLen}]`, actual: `[${begin}, ${end}]` });
    }
    if (end - begin !== n * SAFETENSORS_DTYPE_BYTES[dtype]) {
      throw fail('data_offsets do not match the shape and dtype', {
        tensor: key,
        expected: `${n * SAFETENSORS_DTYPE_BYTES[dtype]} bytes for ${dtype} ${shapeString(e.shape)}`,
        actual: `${end - begin}`,
      });
    }
    const raw = () => src.read(dataStart + begin, end - begin);
    out.set(
      key,
      lazyTensor(e.shape, dtype as StoredDType, () => decodeToF32(raw(), 0, n, dtype), raw),
    );
  }
  return out;
}
