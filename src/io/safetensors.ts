// .safetensors reader: u64 LE header length, a JSON header {name: {dtype, shape, data_offsets}},
// then the raw little-endian data; data_offsets are relative to the end of the header.
// Reads F32, F16 and BF16 into float32. Every length and offset is checked before use.

import { RwkvError, shapeString } from '../errors.ts';
import { decodeToF32 } from './float.ts';
import { type Checkpoint, type StoredDType, makeTensor, numel } from './tensor.ts';

const MAX_HEADER_BYTES = 100 * 1024 * 1024; // the reference implementation's own limit
const BYTES_PER: Record<StoredDType, number> = { F32: 4, F16: 2, BF16: 2 };

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

export function parseSafetensors(bytes: Uint8Array, file: string): Checkpoint {
  const fail = (message: string, more: { tensor?: string; expected?: string; actual?: string } = {}) =>
    new RwkvError('FILE_FORMAT', message, { file, ...more });
  if (bytes.length < 8) throw fail('too short to be a safetensors file', { expected: '>= 8 bytes', actual: `${bytes.length}` });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > bytes.length) {
    throw fail('safetensors header length is out of range', {
      expected: `<= ${Math.min(MAX_HEADER_BYTES, bytes.length - 8)}`,
      actual: `${headerLen}`,
    });
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    throw fail(`safetensors header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw fail('safetensors header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const out: Checkpoint = new Map();
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const e = raw as HeaderEntry;
    if (!e || typeof e !== 'object' || !Array.isArray(e.shape) || !Array.isArray(e.data_offsets) || e.data_offsets.length !== 2) {
      throw fail('malformed header entry', { tensor: name, expected: '{dtype, shape, data_offsets}' });
    }
    if (!e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw fail('malformed shape', { tensor: name, actual: JSON.stringify(e.shape) });
    if (!(e.dtype in BYTES_PER)) {
      throw new RwkvError('UNSUPPORTED_DTYPE', 'tensor dtype is not supported', {
        file,
        tensor: name,
        expected: 'F32, F16 or BF16',
        actual: String(e.dtype),
      });
    }
    const dtype = e.dtype as StoredDType;
    const [begin, end] = e.data_offsets;
    const n = numel(e.shape);
    if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || begin < 0 || end < begin || end > dataLen) {
      throw fail('data_offsets point outside the file', { tensor: name, expected: `within [0, ${dataLen}]`, actual: `[${begin}, ${end}]` });
    }
    if (end - begin !== n * BYTES_PER[dtype]) {
      throw fail('data_offsets do not match the shape and dtype', {
        tensor: name,
        expected: `${n * BYTES_PER[dtype]} bytes for ${dtype} ${shapeString(e.shape)}`,
        actual: `${end - begin}`,
      });
    }
    out.set(name, makeTensor(e.shape, decodeToF32(bytes, dataStart + begin, n, dtype), dtype));
  }
  return out;
}
