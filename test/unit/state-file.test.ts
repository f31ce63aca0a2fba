// The native state file (src/state/state-file.ts, format rwkv-js-state v1): exact round trips of
// real states, the documented envelope (magic, version, header, padding, CRC-32), and refusals:
// damage, truncation, other formats, another model (naming what differs), lying headers.

import { describe, expect, it } from 'vitest';
import { RwkvError, type RwkvErrorCode } from '../../src/errors.ts';
import { RwkvModel } from '../../src/index.ts';
import { STATE_FORMAT_VERSION, STATE_MAGIC, crc32, decodeState, encodeState, readStateHeader } from '../../src/state/state-file.ts';
import { type RwkvVersion, VERSIONS } from '../../src/model/config.ts';
import { randomCheckpoint } from '../helpers/random-model.ts';

function model(version: RwkvVersion, nLayer = 2, seed = 3): RwkvModel {
  return RwkvModel.fromCheckpoint(
    randomCheckpoint({
      version,
      nLayer,
      nHead: version === '4' ? 1 : 2,
      headSize: version === '4' ? 6 : 3,
      nFfn: 5,
      nVocab: 9,
      ranks: { maa: 1, decay: 2, w: 2, a: 1, v: 2, g: 1, s: 2 },
      timeState: false,
      seed,
    }),
    { backend: 'ts' },
  );
}

function caught(fn: () => unknown, code: RwkvErrorCode): RwkvError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof RwkvError)) throw e;
    expect(e.code).toBe(code);
    return e;
  }
  throw new Error(`expected an RwkvError ${code}`);
}

/** A file with any header and values, with a valid checksum (to test what is behind the CRC). */
function forge(header: unknown, values: number[], version = STATE_FORMAT_VERSION): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const start = Math.ceil((16 + json.length) / 4) * 4;
  const out = new Uint8Array(start + values.length * 4 + 4);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode(STATE_MAGIC), 0);
  view.setUint32(8, version, true);
  view.setUint32(12, json.length, true);
  out.set(json, 16);
  values.forEach((v, i) => view.setFloat32(start + i * 4, v, true));
  view.setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}

describe('rwkv-js state file', () => {
  it('CRC-32 is the IEEE one', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it.each(VERSIONS)('RWKV-%s: a real state round-trips bit-exactly', async (version) => {
    const m = model(version);
    const data = await (await m.forward([1, 4, 2, 8])).state.toArray();
    const bytes = encodeState(m.config, data);
    const back = decodeState(bytes, m.config, 's');
    expect(back).toEqual(data);
    // and a state restored from it continues identically
    const a = m.createState();
    a.fromArray(back);
    const b = m.createState();
    b.fromArray(data);
    expect((await m.forward([3], a)).logits).toEqual((await m.forward([3], b)).logits);
  });

  it('documents itself: magic, version, identity, layout, dtype, count, aligned data', async () => {
    const m = model('7');
    const data = await m.createState().toArray();
    const bytes = encodeState(m.config, data);
    expect(new TextDecoder().decode(bytes.subarray(0, 8))).toBe('RWKVSTAT');
    const h = readStateHeader(bytes, 's');
    expect(h.version).toBe(1);
    expect(h.format).toBe('rwkv-js-state');
    expect(h.model).toEqual({ version: '7', n_layer: 2, n_embd: 6, n_head: 2, head_size: 3 });
    expect(h.layout).toEqual([
      { name: 'att_x_prev', shape: [6] },
      { name: 'att_kv', shape: [2, 3, 3] },
      { name: 'ffn_x_prev', shape: [6] },
    ]);
    expect(h.dtype).toBe('f32');
    expect(h.count).toBe(data.length);
    expect(h.dataStart % 4).toBe(0);
    expect(bytes.length).toBe(h.dataStart + 4 * data.length + 4);
  });

  it('a damaged, truncated or foreign file is refused (STATE_FORMAT)', async () => {
    const m = model('6');
    const bytes = encodeState(m.config, await (await m.forward([2])).state.toArray());
    const damaged = bytes.slice();
    damaged[damaged.length - 9]! ^= 0x40;
    expect(caught(() => decodeState(damaged, m.config, 'd'), 'STATE_FORMAT').message).toMatch(/checksum/);
    caught(() => decodeState(bytes.subarray(0, bytes.length - 4), m.config, 't'), 'STATE_FORMAT');
    caught(() => decodeState(bytes.subarray(0, 12), m.config, 't'), 'STATE_FORMAT');
    const foreign = bytes.slice();
    foreign[0] = 0x58;
    caught(() => decodeState(foreign, m.config, 'f'), 'STATE_FORMAT');
    const h = readStateHeader(bytes, 's');
    const values = [...decodeState(bytes, m.config, 's')];
    const e = caught(() => decodeState(forge({ ...h, dataStart: undefined }, values, 2), m.config, 'v2'), 'STATE_FORMAT');
    expect(e.actual).toBe('2');
    caught(() => decodeState(forge({ ...h, format: 'other' }, values), m.config, 'x'), 'STATE_FORMAT');
    caught(() => decodeState(forge({ ...h, dtype: 'f16' }, values), m.config, 'x'), 'STATE_FORMAT');
    caught(() => decodeState(forge({ ...h, count: values.length + 1 }, values), m.config, 'x'), 'STATE_FORMAT');
    caught(() => decodeState(forge(null, values), m.config, 'x'), 'STATE_FORMAT');
    caught(() => decodeState(forge({ ...h, model: { version: '6' } }, values), m.config, 'x'), 'STATE_FORMAT');
  });

  it('a state of another model is refused, naming what differs', async () => {
    const a = model('7', 2);
    const bytes = encodeState(a.config, await a.createState().toArray());
    const e = caught(() => decodeState(bytes, model('7', 3).config, 's'), 'STATE_MISMATCH');
    expect(e.message).toMatch(/different model/);
    expect(e.message).toContain('n_layer 2 ≠ 3');
    expect(e.file).toBe('s');
    // same sizes, another version
    expect(caught(() => decodeState(bytes, model('6', 2).config, 's'), 'STATE_MISMATCH').message).toContain('version 7 ≠ 6');
  });

  it('a header whose layout or count disagrees with the identity it claims is refused', async () => {
    const m = model('5.2');
    const bytes = encodeState(m.config, await m.createState().toArray());
    const h = readStateHeader(bytes, 's');
    const values = [...decodeState(bytes, m.config, 's')];
    const e = caught(() => decodeState(forge({ ...h, count: values.length - 1 }, values.slice(1)), m.config, 'c'), 'STATE_MISMATCH');
    expect(e.expected).toBe(`${values.length} float32 values`);
    expect(e.actual).toBe(`${values.length - 1}`);
    const layout = [...h.layout].reverse();
    caught(() => decodeState(forge({ ...h, layout }, values), m.config, 'l'), 'STATE_MISMATCH');
    // identity fields in another order are the same identity
    const { version, n_layer, n_embd, n_head, head_size } = h.model;
    expect(decodeState(forge({ ...h, model: { head_size, n_head, n_embd, n_layer, version } }, values), m.config, 'o')).toEqual(
      new Float32Array(values),
    );
  });
});
