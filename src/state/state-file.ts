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
// A state is refused (STATE_MISMATCH) when its model identity differs from the model's; the
// message names the fields that differ. A damaged file (checksum), a header that is not this
// format's, or a count that does not fit the file is a STATE_FORMAT error; a header whose layout
// or count disagrees with the identity it claims is refused too. `readStateHeader` reads the
// envelope without a model (for inspecting a file). Other engines' layouts and files:
// src/state/state-interop.ts.

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

/** What a state file says about itself (after its magic, version and checksum were checked). */
export interface StateFileHeader {
  readonly format: string;
  readonly version: number;
  readonly model: Readonly<StateHeader['model']>;
  readonly layout: readonly { name: string; shape: number[] }[];
  readonly dtype: string;
  readonly count: number;
  /** Byte offset of the first value. */
  readonly dataStart: number;
}

/**
 * Read and check the envelope of a state file without a model: magic, format version, checksum,
 * header JSON and that the value count fits the file (`rwkv state info`, and decodeState).
 */
export function readStateHeader(bytes: Uint8Array, file: string): StateFileHeader {
  const bad = (msg: string, more: { expected?: string; actual?: string } = {}) => new RwkvError('STATE_FORMAT', msg, { file, ...more });
  if (bytes.length < 20 || new TextDecoder().decode(bytes.subarray(0, 8)) !== STATE_MAGIC) {
    throw bad('not an rwkv state file', { expected: `magic ${STATE_MAGIC}` });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== STATE_FORMAT_VERSION)
    throw bad('unsupported state file version', { expected: `${STATE_FORMAT_VERSION}`, actual: `${version}` });
  const stored = view.getUint32(bytes.length - 4, true);
  const actual = crc32(bytes.subarray(0, bytes.length - 4));
  if (stored !== actual) throw bad('checksum mismatch: the file is damaged or truncated');
  const hlen = view.getUint32(12, true);
  if (16 + hlen > bytes.length - 4) throw bad('header length out of range');
  let header: StateHeader;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(16, 16 + hlen))) as StateHeader;
  } catch {
    throw bad('header is not valid JSON');
  }
  if (header === null || typeof header !== 'object' || header.format !== 'rwkv-js-state') {
    throw bad('header does not describe an rwkv-js state', {
      expected: 'format "rwkv-js-state"',
      actual: String((header as { format?: unknown } | null)?.format),
    });
  }
  if (header.dtype !== 'f32') throw bad('unsupported value type', { expected: 'f32', actual: String(header.dtype) });
  const m = header.model as Partial<Record<string, unknown>> | undefined;
  if (!m || typeof m !== 'object' || typeof m['version'] !== 'string' || IDENTITY_COUNTS.some((k) => !Number.isSafeInteger(m[k]))) {
    throw bad('header has no valid model identity', { expected: `model { version, ${IDENTITY_COUNTS.join(', ')} }` });
  }
  if (!Array.isArray(header.layout)) throw bad('header has no layout');
  const dataStart = Math.ceil((16 + hlen) / 4) * 4;
  const count = header.count;
  if (!Number.isSafeInteger(count) || count < 0 || dataStart + count * 4 + 4 !== bytes.length) {
    throw bad('value count does not match the file size', { expected: `${(bytes.length - 4 - dataStart) / 4}`, actual: `${count}` });
  }
  return { format: header.format, version, model: header.model, layout: header.layout, dtype: header.dtype, count, dataStart };
}

const IDENTITY_COUNTS = ['n_layer', 'n_embd', 'n_head', 'head_size'] as const;

/** The identity fields that differ, as "n_layer 12 ≠ 24" (file value first). */
function identityDiff(file: StateHeader['model'], model: StateHeader['model']): string[] {
  const out: string[] = [];
  for (const k of ['version', ...IDENTITY_COUNTS] as const) {
    if (file[k] !== model[k]) out.push(`${k} ${String(file[k])} ≠ ${String(model[k])}`);
  }
  return out;
}

/** Parse a state file and check it belongs to a model with config `cfg`. */
export function decodeState(bytes: Uint8Array, cfg: ModelConfig, file: string): Float32Array {
  const header = readStateHeader(bytes, file);
  const want = identity(cfg);
  const diff = identityDiff(header.model, want);
  if (diff.length > 0) {
    throw new RwkvError('STATE_MISMATCH', `the state was saved from a different model (${diff.join(', ')}; file first)`, {
      file,
      expected: JSON.stringify(want),
      actual: JSON.stringify(header.model),
    });
  }
  // same identity, so the layout and the count must be this model's (a hand-made header may lie)
  const layout = stateLayout(cfg);
  const size = cfg.nLayer * layout.reduce((a, e) => a + e.shape.reduce((x, y) => x * y, 1), 0);
  const wantLayout = JSON.stringify(layout.map((e) => ({ name: e.name, shape: [...e.shape] })));
  if (JSON.stringify(header.layout) !== wantLayout) {
    throw new RwkvError('STATE_MISMATCH', 'the state file describes another per-layer layout', {
      file,
      expected: wantLayout,
      actual: JSON.stringify(header.layout),
    });
  }
  if (header.count !== size) {
    throw new RwkvError('STATE_MISMATCH', 'the state file holds the wrong number of values for this model', {
      file,
      expected: `${size} float32 values`,
      actual: `${header.count}`,
    });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(header.count);
  for (let i = 0; i < header.count; i++) out[i] = view.getFloat32(header.dataStart + i * 4, true);
  return out;
}
