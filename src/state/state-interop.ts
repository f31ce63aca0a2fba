// State interop: the recurrent state in the layouts of other RWKV engines, and state files in
// their formats. Every conversion goes through the OFFICIAL layout, the one `RwkvState.toArray()`
// gives and `fromArray()` takes (src/model/state.ts). Only the order of the values changes: the
// three engines keep the same quantities with the same meaning (x_prev is the layer-normed input
// of the last token; v4 aa/bb/pp use the same max trick with a fresh pp of −1e30), so a state
// moved from one engine to another continues exactly where it stopped.
//
// Per-layer layouts (C = n_embd, H heads of size N, C = H·N; L layers, layer-major everywhere):
//
//   official  the pip package's state list (rwkv/model.py L1448-1471, v7 L284-290), flattened entry
//             by entry (docs/fixtures.md "The official state layout")
//     v4      att_x_prev [C] · att_aa [C] · att_bb [C] · att_pp [C] · ffn_x_prev [C]  (5 entries/layer)
//     v5, v6  att_x_prev [C] · att_kv [H, N, N] as [h][key][value] · ffn_x_prev [C]  (3 entries/layer)
//     v7      att_x_prev [C] · att_kv [H, N, N] as [h][value][key] · ffn_x_prev [C]
//
//   rwkv.cpp  one flat float32 buffer (rwkv_get_state_len floats); per layer, in C-sized vectors:
//     v4      ffn_xx · att_xx · att_aa · att_bb · att_pp                 5·C floats per layer
//     v5+     ffn_xx · att_xx · att_heads (H·N·N = N·C floats)           (2 + N)·C floats per layer
//     Source: rwkv_graph.inc `rwkv_create_input_and_output_views` (views at n_embed·(i·5 + k) for
//     v4, at n_embed·(i·(2 + head_size) + k) for v5+); fresh state: rwkv_eval.inc
//     `rwkv_init_state` (all zero, then v4 att_pp = −1e30, i.e. floats [4C, 5C) of each layer).
//     Head matrices: v5/v6 go through ggml_rwkv_wkv6 (older builds: rwkv_wkv_v5), whose state
//     element (h, i, j) sits at h·N·N + i·N + j with k[i] and v[j]: [h][key][value], the official
//     v5/v6 order. v7 goes through rwkv.cpp's rwkv_wkv_v7 (rwkv_operators_wkv_v7.inc; ggml's
//     rwkv_wkv7 uses the same indexing), whose (h, i, j) has v[i] and k[j]: [h][value][key], the
//     official v7 order. So the head block is copied as it is for every version.
//
//   web-rwkv  v7 only (cryscan/web-rwkv src/runtime/v7.rs): one f32 tensor per layer of web-rwkv
//     shape [C, N+2, batch] (web-rwkv shapes list the fastest axis first); `State::back` stacks the
//     layers into [C, N+2, L, 1] and `State::load` takes the same, i.e. row-major [L][N+2][C]:
//       row 0          att x_prev (time_mix_v7.wgsl writes the last token's normed x there)
//       rows 1 … N     the heads: row 1+j, column h·N+i holds S[h][value i][key j]
//       row N+1        ffn x_prev (channel_mix_v7)
//     Head orientation, read from time_mix_v7.wgsl `time_mix`: each invocation owns four channels
//     of the value vector (`vv = load_v(ti)`) and loops over key groups j, reading state rows
//     j·4+1 … j·4+4 at its own column; the update `ss[m]·ww[m] + kk[m]·vv + sa·bb[m]` scales row
//     4j+m by the decay of key 4j+m and the output sums r[key]·row over rows. So rows are keys and
//     columns are (head, value). This is derived from reading the shader, not from running
//     web-rwkv; the round trip through our own model cannot check it.
//
// State files (`StateFileFormat`):
//   rwkv-js               our native format (src/state/state-file.ts): identity, checksum, f32
//   official              .safetensors, one tensor per pip state-list entry, keys "0", "1", …,
//                         in list order, official shapes, F32 (read: F32, F16 or BF16)
//   rwkv.cpp              raw little-endian float32 in rwkv.cpp's layout (what rwkv_eval writes)
//   web-rwkv              raw little-endian float32, row-major [L, N+2, C] (State::back / load)
//   web-rwkv-time-state   .safetensors with `blocks.{i}.att.time_state` [H, N, N] per layer: the
//                         file web-rwkv reads as an initial state (v7.rs `read_state`: the tensor,
//                         shape reversed into web-rwkv order, has its two outer axes swapped and is
//                         blitted into rows 1 … N, so the file is [h][key][value]). It holds the
//                         heads only (x_prev is zero after loading, in web-rwkv too) and web-rwkv's
//                         loader takes F16 only, so writing it rounds to half precision.

import { RwkvError, shapeString } from '../errors.ts';
import { type ModelConfig, describeConfig } from '../model/config.ts';
import { stateLayout } from '../model/state.ts';
import { parseSafetensors } from '../io/safetensors.ts';
import { safetensorsWriter } from '../io/safetensors-write.ts';
import { STATE_MAGIC, decodeState, encodeState } from './state-file.ts';
import { type Checkpoint, type HostTensor, makeTensor, numel } from '../tensor/tensor.ts';
import { type FloatDType, MemorySink } from '../io/write.ts';

export type StateLayoutName = 'official' | 'rwkv.cpp' | 'web-rwkv';
export const STATE_LAYOUT_NAMES: readonly StateLayoutName[] = ['official', 'rwkv.cpp', 'web-rwkv'];

export type StateFileFormat = 'rwkv-js' | 'official' | 'rwkv.cpp' | 'web-rwkv' | 'web-rwkv-time-state';
export const STATE_FILE_FORMATS: readonly StateFileFormat[] = ['rwkv-js', 'official', 'rwkv.cpp', 'web-rwkv', 'web-rwkv-time-state'];

const isV7 = (cfg: ModelConfig) => cfg.version === '7' || cfg.version === '7-deepembed';

/** Values per layer in the official layout. */
function officialLayerSize(cfg: ModelConfig): number {
  return stateLayout(cfg).reduce((a, e) => a + numel(e.shape), 0);
}

/** Refuse layouts the other engine cannot express for this model. */
function checkSupported(cfg: ModelConfig, layout: StateLayoutName): void {
  if (layout === 'web-rwkv' && !isV7(cfg)) {
    throw new RwkvError('UNSUPPORTED_FORMAT', 'the web-rwkv state layout is implemented for RWKV-7 only', {
      expected: 'an RWKV-7 model',
      actual: `RWKV-${cfg.version}`,
      hint: 'use the official or rwkv.cpp layout for this model',
    });
  }
  if (layout !== 'official' && cfg.version !== '4' && cfg.nHead * cfg.headSize !== cfg.nEmbd) {
    // rwkv.cpp and web-rwkv store the heads as N vectors of n_embd floats
    throw new RwkvError('UNSUPPORTED_FORMAT', `the ${layout} state layout needs n_head × head_size = n_embd`, {
      expected: `${cfg.nEmbd}`,
      actual: `${cfg.nHead} × ${cfg.headSize} = ${cfg.nHead * cfg.headSize}`,
    });
  }
}

/** Number of float32 values of the state of a model `cfg` in `layout`. */
export function stateSizeIn(cfg: ModelConfig, layout: StateLayoutName): number {
  checkSupported(cfg, layout);
  // every layout holds the same values, only in another order
  return cfg.nLayer * officialLayerSize(cfg);
}

/**
 * `perm[o]` = where the value at offset `o` of an official layer goes in a `layout` layer (the
 * same map for every layer; layers follow one another in every layout).
 */
function layerPermutation(cfg: ModelConfig, layout: StateLayoutName): Int32Array {
  checkSupported(cfg, layout);
  const S = officialLayerSize(cfg);
  const perm = new Int32Array(S);
  if (layout === 'official') {
    for (let o = 0; o < S; o++) perm[o] = o;
    return perm;
  }
  const C = cfg.nEmbd;
  if (cfg.version === '4') {
    // official blocks att_x, aa, bb, pp, ffn → rwkv.cpp blocks ffn_xx(0), att_xx(1), aa(2), bb(3), pp(4)
    const to = [1, 2, 3, 4, 0];
    for (let b = 0; b < 5; b++) for (let c = 0; c < C; c++) perm[b * C + c] = to[b]! * C + c;
    return perm;
  }
  const H = cfg.nHead;
  const N = cfg.headSize;
  const kv = H * N * N;
  if (layout === 'rwkv.cpp') {
    for (let c = 0; c < C; c++) {
      perm[c] = C + c; // att_x_prev → att_xx
      perm[C + kv + c] = c; // ffn_x_prev → ffn_xx
    }
    // heads: same element order for v5/v6 ([h][key][value]) and v7 ([h][value][key]), see header
    for (let e = 0; e < kv; e++) perm[C + e] = 2 * C + e;
    return perm;
  }
  // web-rwkv v7: rows of C; official att_kv[h][i = value][j = key] → row 1+j, column h·N+i
  for (let c = 0; c < C; c++) {
    perm[c] = c;
    perm[C + kv + c] = (N + 1) * C + c;
  }
  for (let h = 0; h < H; h++) {
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < N; j++) perm[C + h * N * N + i * N + j] = (1 + j) * C + h * N + i;
    }
  }
  return perm;
}

function checkLength(actual: number, cfg: ModelConfig, layout: StateLayoutName, what: string, file?: string): void {
  const expected = stateSizeIn(cfg, layout);
  if (actual !== expected) {
    throw new RwkvError('STATE_MISMATCH', `${what} has the wrong size for this model`, {
      ...(file !== undefined ? { file } : {}),
      expected: `${expected} float32 values (${layout} layout of ${describeConfig(cfg)})`,
      actual: `${actual}`,
    });
  }
}

/** A state in the official layout (RwkvState.toArray) rearranged into `layout`. */
export function exportState(data: Float32Array, cfg: ModelConfig, layout: StateLayoutName): Float32Array {
  checkSupported(cfg, layout);
  checkLength(data.length, cfg, 'official', 'the state to export');
  const perm = layerPermutation(cfg, layout);
  const S = perm.length;
  const out = new Float32Array(data.length);
  for (let l = 0; l < cfg.nLayer; l++) {
    const base = l * S;
    for (let o = 0; o < S; o++) out[base + perm[o]!] = data[base + o]!;
  }
  return out;
}

/** A state in `layout` rearranged into the official layout (for RwkvState.fromArray). */
export function importState(buffer: Float32Array, cfg: ModelConfig, layout: StateLayoutName, file?: string): Float32Array {
  checkLength(buffer.length, cfg, layout, `the ${layout} state`, file);
  const perm = layerPermutation(cfg, layout);
  const S = perm.length;
  const out = new Float32Array(buffer.length);
  for (let l = 0; l < cfg.nLayer; l++) {
    const base = l * S;
    for (let o = 0; o < S; o++) out[base + o] = buffer[base + perm[o]!]!;
  }
  return out;
}

// ---- raw float32 buffers (rwkv.cpp, web-rwkv) ----

function rawBytes(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return out;
}

function rawValues(bytes: Uint8Array, cfg: ModelConfig, layout: StateLayoutName, file?: string): Float32Array {
  const expected = stateSizeIn(cfg, layout);
  if (bytes.length !== expected * 4) {
    throw new RwkvError('STATE_MISMATCH', `the raw ${layout} state file has the wrong size for this model`, {
      ...(file !== undefined ? { file } : {}),
      expected: `${expected * 4} bytes (${expected} little-endian float32, ${layout} layout of ${describeConfig(cfg)})`,
      actual: `${bytes.length} bytes`,
    });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(expected);
  for (let i = 0; i < expected; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

// ---- the official package's state list as .safetensors ----

/** The pip state list of a state in the official layout: tensors "0", "1", … with official shapes. */
export function officialStateCheckpoint(data: Float32Array, cfg: ModelConfig): Checkpoint {
  checkLength(data.length, cfg, 'official', 'the state');
  const ckpt: Checkpoint = new Map();
  const entries = stateLayout(cfg);
  let o = 0;
  let k = 0;
  for (let l = 0; l < cfg.nLayer; l++) {
    for (const e of entries) {
      const n = numel(e.shape);
      ckpt.set(String(k++), makeTensor(e.shape, data.slice(o, o + n)));
      o += n;
    }
  }
  return ckpt;
}

function writeSafetensors(ckpt: Checkpoint, dtype: FloatDType): Uint8Array {
  const sink = new MemorySink();
  safetensorsWriter.write(ckpt, sink, { dtype });
  return sink.bytes();
}

const squeeze = (s: readonly number[]) => s.filter((d) => d !== 1);
const sameSqueezed = (a: readonly number[], b: readonly number[]) => shapeString(squeeze(a)) === shapeString(squeeze(b));

/** Read a state list saved as .safetensors (keys "0", "1", …) into the official layout. */
export function officialStateFromCheckpoint(ckpt: Checkpoint, cfg: ModelConfig, file?: string): Float32Array {
  const where = file !== undefined ? { file } : {};
  const entries = stateLayout(cfg);
  const count = cfg.nLayer * entries.length;
  const extra = [...ckpt.keys()].filter((k) => !/^(0|[1-9]\d*)$/.test(k) || Number(k) >= count);
  if (extra.length > 0 || ckpt.size !== count) {
    throw new RwkvError('STATE_MISMATCH', 'the state list has the wrong entries for this model', {
      ...where,
      expected: `${count} tensors "0" … "${count - 1}" (${entries.length} per layer × ${cfg.nLayer} layers of ${describeConfig(cfg)})`,
      actual: `${ckpt.size} tensors${
        extra.length > 0
          ? `, unexpected ${extra
              .slice(0, 4)
              .map((k) => `"${k}"`)
              .join(', ')}`
          : ''
      }`,
    });
  }
  const out = new Float32Array(stateSizeIn(cfg, 'official'));
  let o = 0;
  for (let k = 0; k < count; k++) {
    const e = entries[k % entries.length]!;
    const t = ckpt.get(String(k));
    if (t === undefined) {
      throw new RwkvError('STATE_MISMATCH', 'a state list entry is missing', {
        ...where,
        tensor: String(k),
        expected: `${e.name} ${shapeString(e.shape)}`,
      });
    }
    // the pip state keeps x_prev as [C]; allow the same values with unit axes (e.g. [1, C])
    if (numel(t.shape) !== numel(e.shape) || !sameSqueezed(t.shape, e.shape)) {
      throw new RwkvError(
        'STATE_MISMATCH',
        `state list entry ${k} (layer ${Math.floor(k / entries.length)} ${e.name}) has the wrong shape`,
        {
          ...where,
          tensor: String(k),
          expected: shapeString(e.shape),
          actual: shapeString(t.shape),
        },
      );
    }
    out.set(t.data, o);
    o += numel(e.shape);
  }
  return out;
}

// ---- web-rwkv's initial-state file (blocks.{i}.att.time_state, [h][key][value]) ----

/** The heads of a v7 state as web-rwkv's `time_state` tensors ([h][key][value]). */
export function webRwkvTimeStateCheckpoint(data: Float32Array, cfg: ModelConfig): Checkpoint {
  checkSupported(cfg, 'web-rwkv');
  checkLength(data.length, cfg, 'official', 'the state');
  const H = cfg.nHead;
  const N = cfg.headSize;
  const C = cfg.nEmbd;
  const S = officialLayerSize(cfg);
  const ckpt: Checkpoint = new Map();
  for (let l = 0; l < cfg.nLayer; l++) {
    const kv = l * S + C; // official att_kv[h][value i][key j]
    const t = new Float32Array(H * N * N);
    for (let h = 0; h < H; h++) {
      for (let j = 0; j < N; j++) for (let i = 0; i < N; i++) t[h * N * N + j * N + i] = data[kv + h * N * N + i * N + j]!;
    }
    ckpt.set(`blocks.${l}.att.time_state`, makeTensor([H, N, N], t));
  }
  return ckpt;
}

/** A state from web-rwkv `time_state` tensors: the heads set, x_prev zero (as web-rwkv loads it). */
export function stateFromWebRwkvTimeState(ckpt: Checkpoint, cfg: ModelConfig, file?: string): Float32Array {
  checkSupported(cfg, 'web-rwkv');
  const where = file !== undefined ? { file } : {};
  const H = cfg.nHead;
  const N = cfg.headSize;
  const C = cfg.nEmbd;
  const S = officialLayerSize(cfg);
  const out = new Float32Array(cfg.nLayer * S);
  for (let l = 0; l < cfg.nLayer; l++) {
    const key = `blocks.${l}.att.time_state`;
    const t: HostTensor | undefined = ckpt.get(key);
    if (t === undefined)
      throw new RwkvError('STATE_MISMATCH', 'a layer of the state is missing', { ...where, tensor: key, expected: `[${H}, ${N}, ${N}]` });
    if (shapeString(t.shape) !== shapeString([H, N, N])) {
      throw new RwkvError('STATE_MISMATCH', 'time_state has the wrong shape for this model', {
        ...where,
        tensor: key,
        expected: shapeString([H, N, N]),
        actual: shapeString(t.shape),
      });
    }
    const d = t.data;
    const kv = l * S + C;
    for (let h = 0; h < H; h++) {
      for (let j = 0; j < N; j++) for (let i = 0; i < N; i++) out[kv + h * N * N + i * N + j] = d[h * N * N + j * N + i]!;
    }
  }
  const extra = [...ckpt.keys()].find((k) => !/^blocks\.\d+\.att\.time_state$/.test(k) || Number(k.split('.')[1]) >= cfg.nLayer);
  if (extra !== undefined) {
    throw new RwkvError('STATE_MISMATCH', 'the file has tensors this model has no place for', {
      ...where,
      tensor: extra,
      expected: `blocks.0 … blocks.${cfg.nLayer - 1}.att.time_state`,
    });
  }
  return out;
}

// ---- files ----

export interface EncodeStateOptions {
  /** web-rwkv-time-state only: dtype of the tensors (default F16, the only one web-rwkv reads). */
  dtype?: FloatDType;
}

/** The bytes of a state file in `format`; `data` is in the official layout. */
export function encodeStateFile(
  data: Float32Array,
  cfg: ModelConfig,
  format: StateFileFormat,
  options: EncodeStateOptions = {},
): Uint8Array {
  switch (format) {
    case 'rwkv-js':
      checkLength(data.length, cfg, 'official', 'the state');
      return encodeState(cfg, data);
    case 'official':
      return writeSafetensors(officialStateCheckpoint(data, cfg), 'F32');
    case 'rwkv.cpp':
    case 'web-rwkv':
      return rawBytes(exportState(data, cfg, format));
    case 'web-rwkv-time-state':
      return writeSafetensors(webRwkvTimeStateCheckpoint(data, cfg), options.dtype ?? 'F16');
  }
}

/** Read a state file in `format` into the official layout, refusing one of another model. */
export function decodeStateFile(bytes: Uint8Array, cfg: ModelConfig, format: StateFileFormat, file = '(memory)'): Float32Array {
  switch (format) {
    case 'rwkv-js':
      return decodeState(bytes, cfg, file);
    case 'official':
      return officialStateFromCheckpoint(parseSafetensors(bytes, file), cfg, file);
    case 'rwkv.cpp':
    case 'web-rwkv':
      return importState(rawValues(bytes, cfg, format, file), cfg, format, file);
    case 'web-rwkv-time-state':
      return stateFromWebRwkvTimeState(parseSafetensors(bytes, file), cfg, file);
  }
}

/**
 * The format of a state file from its bytes, or undefined for a raw float32 buffer (rwkv.cpp and
 * web-rwkv files carry no header and, for RWKV-7, have the same size: name the format).
 */
export function detectStateFileFormat(bytes: Uint8Array): StateFileFormat | undefined {
  if (bytes.length >= 8 && new TextDecoder().decode(bytes.subarray(0, 8)) === STATE_MAGIC) return 'rwkv-js';
  // safetensors: u64 LE header length (small), then '{'
  if (bytes.length >= 9 && bytes[8] === 0x7b && bytes[6] === 0 && bytes[7] === 0) {
    let keys: string[];
    try {
      keys = [...parseSafetensors(bytes).keys()];
    } catch {
      return undefined;
    }
    if (keys.includes('0')) return 'official';
    if (keys.includes('blocks.0.att.time_state')) return 'web-rwkv-time-state';
  }
  return undefined;
}
