// State files (`rwkv forward --state-out/--state-in`, RwkvState save/restore).
//
// Format "RWKVSTAT" version 1, all integers little-endian:
//   bytes 0..7    magic "RWKVSTAT"
//   u32           format version (1)
//   u32           header length H (bytes of UTF-8 JSON)
//   H bytes       JSON header: { "format": "rwkv-js-state", "version": 1,
//                   "model": { "version", "n_layer", "n_embd", "n_head", "head_size" },
//                   "layout": [{ "name", "shape" }] (per layer, see src/model/state.ts),
//                   "dtype": "f32", "count": number of values }
//   pad           zero bytes up to a multiple of 4
//   count × f32   the state in the official layout (RwkvState.toArray)
//   u32           CRC-32 (IEEE) of every byte before it
// A state is refused (STATE_MISMATCH) when its model identity differs from the model's.

import { RwkvError } from '../errors.ts';
import type { ModelConfig } from '../model/config.ts';
import { stateLayout } from '../model/state.ts';

export const STATE_MAGIC = 'RWKVSTAT';
export const STATE_FORMAT_VERSION = 1;

interface StateHeader {
  format: string;
  version: number;
  model: { version: string; n_layer: number; n_embd: number; n_head: number; head_size: number };
  layout: { name: string; shape: number[] }[];
  dtype: 'f32';
  count: number;
}

function identity(cfg: ModelConfig): StateHeader['model'] {
  return { version: cfg.version, n_layer: cfg.nLayer, n_embd: cfg.nEmbd, n_head: cfg.nHead, head_size: cfg.headSize };
}

let crcTable: Uint32Array | undefined;
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function encodeState(cfg: ModelConfig, data: Float32Array): Uint8Array {
  const header: StateHeader = {
    format: 'rwkv-js-state',
    version: STATE_FORMAT_VERSION,
    model: identity(cfg),
    layout: stateLayout(cfg).map((e) => ({ name: e.name, shape: [...e.shape] })),
    dtype: 'f32',
    count: data.length,
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headEnd = 16 + json.length;
  const dataStart = Math.ceil(headEnd / 4) * 4;
  const out = new Uint8Array(dataStart + data.length * 4 + 4);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode(STATE_MAGIC), 0);
  view.setUint32(8, STATE_FORMAT_VERSION, true);
  view.setUint32(12, json.length, true);
  out.set(json, 16);
  for (let i = 0; i < data.length; i++) view.setFloat32(dataStart + i * 4, data[i]!, true);
  view.setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}

/** Parse a state file and check it belongs to a model with config `cfg`. */
export function decodeState(bytes: Uint8Array, cfg: ModelConfig, file: string): Float32Array {
  const bad = (msg: string, more: { expected?: string; actual?: string } = {}) => new RwkvError('STATE_FORMAT', msg, { file, ...more });
  if (bytes.length < 20 || new TextDecoder().decode(bytes.subarray(0, 8)) !== STATE_MAGIC) {
    throw bad('not an rwkv state file', { expected: `magic ${STATE_MAGIC}` });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== STATE_FORMAT_VERSION) throw bad('unsupported state file version', { expected: `${STATE_FORMAT_VERSION}`, actual: `${version}` });
  const stored = view.getUint32(bytes.length - 4, true);
  const actual = crc32(bytes.subarray(0, bytes.length - 4));
  if (stored !== actual) throw bad('checksum mismatch: the file is damaged or truncated');
  const hlen = view.getUint32(12, true);
  if (16 + hlen > bytes.length - 4) throw bad('header length out of range');
  let header: StateHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(16, 16 + hlen))) as StateHeader;
  } catch {
    throw bad('header is not valid JSON');
  }
  const want = JSON.stringify(identity(cfg));
  const got = JSON.stringify(header.model);
  if (want !== got) {
    throw new RwkvError('STATE_MISMATCH', 'the state was saved from a different model', { file, expected: want, actual: got });
  }
  const dataStart = Math.ceil((16 + hlen) / 4) * 4;
  const count = header.count;
  if (!Number.isSafeInteger(count) || dataStart + count * 4 + 4 !== bytes.length) {
    throw bad('value count does not match the file size', { expected: `${(bytes.length - 4 - dataStart) / 4}`, actual: `${count}` });
  }
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getFloat32(dataStart + i * 4, true);
  return out;
}
