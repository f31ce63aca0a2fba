// State interop (src/state/state-interop.ts): other engines' state layouts and state files.
//  - every version: real states (random model, forward) survive every layout and file format,
//    and a model continued from an imported state gives the logits it gives from the original;
//  - hand-set entries land where rwkv.cpp's and web-rwkv's own indexing puts them (written here
//    from their kernels' index formulas, not from our permutation);
//  - rwkv.cpp v4: a fresh state is rwkv_init_state's (zeros, pp = −1e30), both ways;
//  - states of another size or model, and layouts an engine does not have, are refused.

import { describe, expect, it } from 'vitest';
import { RwkvError, type RwkvErrorCode } from '../../src/errors.ts';
import { RwkvModel } from '../../src/index.ts';
import { parseSafetensors } from '../../src/io/safetensors.ts';
import {
  STATE_FILE_FORMATS,
  type StateFileFormat,
  type StateLayoutName,
  decodeStateFile,
  detectStateFileFormat,
  encodeStateFile,
  exportState,
  importState,
  stateSizeIn,
} from '../../src/state/state-interop.ts';
import { type ModelConfig, type RwkvVersion, VERSIONS } from '../../src/model/config.ts';
import { stateLayout } from '../../src/model/state.ts';
import { type RandomModelSpec, randomCheckpoint } from '../helpers/random-model.ts';
import { F16_STATE_ATOL, F16_STATE_RTOL, expectClose } from '../helpers/tolerance.ts';

const L = 2;
const H = 2;
const N = 4;

function spec(version: RwkvVersion, seed = 7, nLayer = L): RandomModelSpec {
  return {
    version,
    nLayer,
    nHead: version === '4' ? 1 : H,
    headSize: version === '4' ? H * N : N,
    nFfn: 11,
    nVocab: 13,
    ranks: { maa: 2, decay: 3, w: 2, a: 3, v: 2, g: 2, s: 2 },
    timeState: false,
    seed,
  };
}

function model(version: RwkvVersion, seed = 7, nLayer = L): RwkvModel {
  return RwkvModel.fromCheckpoint(randomCheckpoint(spec(version, seed, nLayer)), { backend: 'ts' });
}

const isV7 = (v: RwkvVersion) => v === '7' || v === '7-deepembed';
const layoutsFor = (v: RwkvVersion): StateLayoutName[] => (isV7(v) ? ['official', 'rwkv.cpp', 'web-rwkv'] : ['official', 'rwkv.cpp']);
/** The lossless file formats of a version (web-rwkv-time-state keeps the heads only). */
const losslessFormats = (v: RwkvVersion): StateFileFormat[] =>
  STATE_FILE_FORMATS.filter((f) => f !== 'web-rwkv-time-state' && (f !== 'web-rwkv' || isV7(v)));

function caught(fn: () => unknown): RwkvError {
  try {
    fn();
  } catch (e) {
    if (e instanceof RwkvError) return e;
    throw e;
  }
  throw new Error('expected an RwkvError');
}

function expectCode(fn: () => unknown, code: RwkvErrorCode): RwkvError {
  const e = caught(fn);
  expect(e.code).toBe(code);
  return e;
}

/** Values per layer in the official layout. */
const layerSize = (cfg: ModelConfig) => stateLayout(cfg).reduce((a, e) => a + e.shape.reduce((x, y) => x * y, 1), 0);

describe.each(VERSIONS)('RWKV-%s', (version) => {
  it('a real state survives every layout and every lossless file format unchanged', async () => {
    const m = model(version);
    const data = await (await m.forward([1, 5, 2, 9, 3])).state.toArray();
    expect(data.some((x) => x !== 0)).toBe(true);
    for (const layout of layoutsFor(version)) {
      const out = exportState(data, m.config, layout);
      expect(out.length).toBe(stateSizeIn(m.config, layout));
      // the same values, only in another order
      expect([...out].sort((a, b) => a - b)).toEqual([...data].sort((a, b) => a - b));
      if (layout !== 'official') expect(out).not.toEqual(data);
      expect(importState(out, m.config, layout)).toEqual(data);
    }
    for (const format of losslessFormats(version)) {
      const bytes = encodeStateFile(data, m.config, format);
      expect(decodeStateFile(bytes, m.config, format, `x.${format}`)).toEqual(data);
    }
  });

  it('a model continued from an imported state gives the logits it gives from the original', async () => {
    const m = model(version, 11);
    const first = [3, 1, 4, 1, 5];
    const then = [9, 2, 6];
    const original = (await m.forward(first)).state;
    const want = (await m.forward(then, original.clone())).logits as Float32Array;
    const data = await original.toArray();
    for (const format of losslessFormats(version)) {
      const restored = m.createState();
      restored.fromArray(decodeStateFile(encodeStateFile(data, m.config, format), m.config, format));
      const got = (await m.forward(then, restored)).logits as Float32Array;
      expectClose(`continued via ${format}`, got, want, 0);
    }
    // and the continuation really depends on the state (the comparison above can fail)
    const fresh = (await m.forward(then)).logits as Float32Array;
    expect(fresh.some((x, i) => Math.abs(x - want[i]!) > 1e-4)).toBe(true);
  });

  it('detects the formats that say what they are; raw buffers need a name', async () => {
    const m = model(version);
    const data = await (await m.forward([2, 7])).state.toArray();
    expect(detectStateFileFormat(encodeStateFile(data, m.config, 'rwkv-js'))).toBe('rwkv-js');
    expect(detectStateFileFormat(encodeStateFile(data, m.config, 'official'))).toBe('official');
    expect(detectStateFileFormat(encodeStateFile(data, m.config, 'rwkv.cpp'))).toBeUndefined();
    if (isV7(version)) {
      expect(detectStateFileFormat(encodeStateFile(data, m.config, 'web-rwkv-time-state'))).toBe('web-rwkv-time-state');
      expect(detectStateFileFormat(encodeStateFile(data, m.config, 'web-rwkv'))).toBeUndefined();
    }
  });

  it('the official state list file holds tensors "0", "1", … with the pip shapes', async () => {
    const m = model(version);
    const data = await (await m.forward([4, 4, 8])).state.toArray();
    const ckpt = parseSafetensors(encodeStateFile(data, m.config, 'official'));
    const entries = stateLayout(m.config);
    expect(ckpt.size).toBe(L * entries.length);
    let o = 0;
    for (let k = 0; k < ckpt.size; k++) {
      const t = ckpt.get(String(k))!;
      const e = entries[k % entries.length]!;
      expect(t.shape).toEqual([...e.shape]);
      expect(t.storedAs).toBe('F32');
      expect(t.data).toEqual(data.subarray(o, o + t.data.length));
      o += t.data.length;
    }
    expect(o).toBe(data.length);
  });
});

describe('known positions: hand-set entries land where each engine indexes them', () => {
  /** A zero official state with `set(layer, entry, index, value)` entries. */
  function official(cfg: ModelConfig, sets: [number, string, number, number][]): Float32Array {
    const entries = stateLayout(cfg);
    const S = layerSize(cfg);
    const out = new Float32Array(cfg.nLayer * S);
    for (const [layer, name, index, value] of sets) {
      let o = layer * S;
      for (const e of entries) {
        if (e.name === name) break;
        o += e.shape.reduce((a, b) => a * b, 1);
      }
      out[o + index] = value;
    }
    return out;
  }
  const nonZero = (a: Float32Array) => [...a].map((x, i) => [i, x] as const).filter(([, x]) => x !== 0);

  it('rwkv.cpp v4: per layer ffn_xx, att_xx, att_aa, att_bb, att_pp (5·C floats)', () => {
    const cfg = model('4').config;
    const C = cfg.nEmbd;
    const c = 3;
    const data = official(cfg, [
      [1, 'att_x_prev', c, 1],
      [1, 'att_aa', c, 2],
      [1, 'att_bb', c, 3],
      [1, 'att_pp', c, 4],
      [1, 'ffn_x_prev', c, 5],
    ]);
    const out = exportState(data, cfg, 'rwkv.cpp');
    const layer = 1 * 5 * C; // rwkv_create_input_and_output_views: n_embed · (i·5 + k)
    expect(nonZero(out)).toEqual([
      [layer + 0 * C + c, 5], // ffn_xx
      [layer + 1 * C + c, 1], // att_xx
      [layer + 2 * C + c, 2], // att_aa
      [layer + 3 * C + c, 3], // att_bb
      [layer + 4 * C + c, 4], // att_pp
    ]);
    expect(importState(out, cfg, 'rwkv.cpp')).toEqual(data);
  });

  it.each(['5.0', '5.1', '5.2', '6'] as const)(
    'rwkv.cpp v%s: ffn_xx, att_xx, heads [h][key][value] (ggml wkv6 state index h·N·N + i·N + j, k[i] v[j])',
    (version) => {
      const cfg = model(version).config;
      const C = cfg.nEmbd;
      const [h, key, value, c] = [1, 2, 3, 5];
      // official v5/v6 att_kv is [h][key][value]
      const data = official(cfg, [
        [1, 'att_kv', h * N * N + key * N + value, 7],
        [1, 'att_x_prev', c, 1],
        [1, 'ffn_x_prev', c, 2],
      ]);
      const out = exportState(data, cfg, 'rwkv.cpp');
      const layer = 1 * (2 + N) * C; // n_embed · (i·(2 + head_size) + k)
      expect(nonZero(out)).toEqual([
        [layer + c, 2], // ffn_xx
        [layer + C + c, 1], // att_xx
        [layer + 2 * C + h * N * N + key * N + value, 7],
      ]);
      expect(importState(out, cfg, 'rwkv.cpp')).toEqual(data);
    },
  );

  it('rwkv.cpp v7: heads [h][value][key] (rwkv_wkv_v7 state index h·S·S + i·S + j, v[i] k[j])', () => {
    const cfg = model('7').config;
    const C = cfg.nEmbd;
    const [h, value, key] = [1, 3, 0];
    // official v7 att_kv is [h][value][key]
    const data = official(cfg, [
      [0, 'att_kv', h * N * N + value * N + key, 7],
      [1, 'att_kv', 0 * N * N + 1 * N + 2, 8],
    ]);
    const out = exportState(data, cfg, 'rwkv.cpp');
    expect(nonZero(out)).toEqual([
      [2 * C + h * N * N + value * N + key, 7],
      [(2 + N) * C + 2 * C + 0 * N * N + 1 * N + 2, 8],
    ]);
  });

  it('web-rwkv v7: [L][N+2][C]; row 0 att x_prev, row 1+key column h·N+value, row N+1 ffn x_prev', () => {
    const cfg = model('7').config;
    const C = cfg.nEmbd;
    const [h, value, key, c] = [1, 3, 0, 6];
    const data = official(cfg, [
      [1, 'att_kv', h * N * N + value * N + key, 7],
      [1, 'att_x_prev', c, 1],
      [1, 'ffn_x_prev', c, 2],
    ]);
    const out = exportState(data, cfg, 'web-rwkv');
    const layer = 1 * (N + 2) * C;
    expect(nonZero(out)).toEqual([
      [layer + 0 * C + c, 1],
      [layer + (1 + key) * C + h * N + value, 7],
      [layer + (N + 1) * C + c, 2],
    ]);
    expect(importState(out, cfg, 'web-rwkv')).toEqual(data);
  });

  it('web-rwkv time_state file: blocks.{i}.att.time_state [H, N, N] as [h][key][value], F16; x_prev is not kept', () => {
    const cfg = model('7').config;
    const [h, value, key] = [0, 1, 3];
    const data = official(cfg, [
      [1, 'att_kv', h * N * N + value * N + key, 0.5],
      [1, 'att_x_prev', 2, 9],
    ]);
    const bytes = encodeStateFile(data, cfg, 'web-rwkv-time-state');
    const ckpt = parseSafetensors(bytes);
    expect([...ckpt.keys()].sort()).toEqual(['blocks.0.att.time_state', 'blocks.1.att.time_state']);
    const t = ckpt.get('blocks.1.att.time_state')!;
    expect(t.shape).toEqual([H, N, N]);
    expect(t.storedAs).toBe('F16');
    expect(nonZero(t.data)).toEqual([[h * N * N + key * N + value, 0.5]]);
    const back = decodeStateFile(bytes, cfg, 'web-rwkv-time-state');
    expect(back).toEqual(official(cfg, [[1, 'att_kv', h * N * N + value * N + key, 0.5]]));
  });

  it('web-rwkv time_state file of a real state: heads within half precision (F16) or exact (F32)', async () => {
    const m = model('7', 5);
    const data = await (await m.forward([1, 2, 3, 4])).state.toArray();
    const S = layerSize(m.config);
    const C = m.config.nEmbd;
    /** `a` with the x_prev entries zeroed: what a heads-only file can give back. */
    const headsOnly = (a: Float32Array) => a.map((x, i) => (i % S >= C && i % S < C + H * N * N ? x : 0));
    const f16 = decodeStateFile(encodeStateFile(data, m.config, 'web-rwkv-time-state'), m.config, 'web-rwkv-time-state');
    expectClose('f16 heads', f16, headsOnly(data), F16_STATE_ATOL, F16_STATE_RTOL);
    const f32 = decodeStateFile(encodeStateFile(data, m.config, 'web-rwkv-time-state', { dtype: 'F32' }), m.config, 'web-rwkv-time-state');
    // exact heads; x_prev rows zero (web-rwkv's read_state leaves them zero too)
    expect(f32).toEqual(headsOnly(data));
    expect(headsOnly(data)).not.toEqual(data);
  });
});

describe('rwkv.cpp v4 pp semantics', () => {
  it('a fresh state is rwkv_init_state: zeros, then att_pp = −1e30 (floats [4C, 5C) of each layer)', async () => {
    const m = model('4');
    const C = m.config.nEmbd;
    const out = exportState(await m.createState().toArray(), m.config, 'rwkv.cpp');
    // rwkv_init_state, written from rwkv_eval.inc
    const init = new Float32Array(L * 5 * C);
    for (let start = 0; start < init.length; start += 5 * C) for (let i = 4 * C; i < 5 * C; i++) init[start + i] = -1e30;
    expect(out).toEqual(init);
    expect(Math.fround(-1e30)).toBe(init[4 * C]);
    // and rwkv.cpp's fresh state imports as our fresh state
    expect(importState(init, m.config, 'rwkv.cpp')).toEqual(await m.createState().toArray());
  });

  it('a v4 state from rwkv.cpp continues like ours (pp is the running max exponent, not a probability)', async () => {
    const m = model('4', 3);
    const st = (await m.forward([5, 6, 7])).state;
    const data = await st.toArray();
    const C = m.config.nEmbd;
    const rc = exportState(data, m.config, 'rwkv.cpp');
    // after tokens, pp is finite and far above the −1e30 start
    for (let l = 0; l < L; l++) for (let c = 0; c < C; c++) expect(rc[l * 5 * C + 4 * C + c]!).toBeGreaterThan(-1e3);
    const restored = m.createState();
    restored.fromArray(importState(rc, m.config, 'rwkv.cpp'));
    const a = (await m.forward([8], restored)).logits as Float32Array;
    const b = (await m.forward([8], st)).logits as Float32Array;
    expectClose('v4 continued', a, b, 0);
  });

  it.each(['5.2', '6', '7'] as const)(
    'a fresh v%s state is all zeros in rwkv.cpp (rwkv_init_state returns after the memset)',
    async (version) => {
      const m = model(version);
      const out = exportState(await m.createState().toArray(), m.config, 'rwkv.cpp');
      expect(out.every((x) => x === 0)).toBe(true);
      expect(out.length).toBe(L * (2 + N) * m.config.nEmbd);
    },
  );
});

describe('refusals', () => {
  it('a buffer of the wrong size, naming expected and actual sizes', async () => {
    const m = model('6');
    const n = stateSizeIn(m.config, 'rwkv.cpp');
    const e = expectCode(() => importState(new Float32Array(n - 1), m.config, 'rwkv.cpp', 'x.bin'), 'STATE_MISMATCH');
    expect(e.expected).toContain(`${n} float32`);
    expect(e.actual).toBe(`${n - 1}`);
    expect(e.file).toBe('x.bin');
    expectCode(() => exportState(new Float32Array(n + 5), m.config, 'rwkv.cpp'), 'STATE_MISMATCH');
    // a raw file: sizes in bytes
    const raw = expectCode(() => decodeStateFile(new Uint8Array(n * 4 + 2), m.config, 'rwkv.cpp', 's.bin'), 'STATE_MISMATCH');
    expect(raw.expected).toContain(`${n * 4} bytes`);
    expect(raw.actual).toBe(`${n * 4 + 2} bytes`);
  });

  it('a state of another model, in every format', async () => {
    const a = model('7', 1, 2);
    const b = model('7', 1, 3);
    const data = await (await a.forward([1, 2])).state.toArray();
    for (const format of losslessFormats('7')) {
      const e = expectCode(
        () => decodeStateFile(encodeStateFile(data, a.config, format), b.config, format, `s.${format}`),
        'STATE_MISMATCH',
      );
      expect(e.file).toBe(`s.${format}`);
    }
    expectCode(
      () => decodeStateFile(encodeStateFile(data, a.config, 'web-rwkv-time-state'), b.config, 'web-rwkv-time-state'),
      'STATE_MISMATCH',
    );
    // the same size but another version (rwkv.cpp v6 and v7 states of these shapes are the same length)
    const v6 = model('6', 1, 2);
    expect(stateSizeIn(v6.config, 'rwkv.cpp')).toBe(data.length);
    expect(caught(() => decodeStateFile(encodeStateFile(data, a.config, 'rwkv-js'), v6.config, 'rwkv-js')).message).toMatch(
      /different model/,
    );
    expectCode(() => decodeStateFile(encodeStateFile(data, a.config, 'official'), model('4', 1, 2).config, 'official'), 'STATE_MISMATCH');
  });

  it('an official state list entry of the wrong shape names the entry', async () => {
    const a = model('5.2');
    const other = RwkvModel.fromCheckpoint(randomCheckpoint({ ...spec('5.2'), nHead: 1, headSize: 8 }), { backend: 'ts' });
    // the same n_embd, another head split: entry "1" (layer 0 att_kv) is the first that differs
    const data = await (await a.forward([3])).state.toArray();
    const e = expectCode(
      () => decodeStateFile(encodeStateFile(data, a.config, 'official'), other.config, 'official', 'o.st'),
      'STATE_MISMATCH',
    );
    expect(e.tensor).toBe('1');
    expect(e.expected).toBe('[1, 8, 8]');
    expect(e.actual).toBe('[2, 4, 4]');
  });

  it('web-rwkv is RWKV-7 only', async () => {
    for (const v of ['4', '5.2', '6'] as const) {
      const m = model(v);
      const data = await m.createState().toArray();
      expectCode(() => exportState(data, m.config, 'web-rwkv'), 'UNSUPPORTED_FORMAT');
      expectCode(() => importState(data, m.config, 'web-rwkv'), 'UNSUPPORTED_FORMAT');
      expectCode(() => encodeStateFile(data, m.config, 'web-rwkv-time-state'), 'UNSUPPORTED_FORMAT');
      expectCode(() => decodeStateFile(new Uint8Array(data.length * 4), m.config, 'web-rwkv'), 'UNSUPPORTED_FORMAT');
    }
  });
});
