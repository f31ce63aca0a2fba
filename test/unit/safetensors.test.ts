import { describe, expect, it } from 'vitest';
import { RwkvError } from '../../src/errors.ts';
import { parseSafetensors } from '../../src/io/safetensors.ts';
import { loadCheckpoint } from '../../src/io/load.ts';
import { fixturePath } from '../helpers/fixtures.ts';

function build(header: object, data: Uint8Array): Uint8Array {
  let json = JSON.stringify(header);
  while ((json.length + 8) % 8 !== 0) json += ' ';
  const hb = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hb.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  out.set(data, 8 + hb.length);
  return out;
}

describe('safetensors', () => {
  it('reads F32, F16 and BF16 values exactly', () => {
    const data = new Uint8Array(4 * 2 + 2 * 2 + 2 * 2);
    const v = new DataView(data.buffer);
    v.setFloat32(0, 1.5, true);
    v.setFloat32(4, -2.25, true);
    v.setUint16(8, 0x3c00, true); // f16 1.0
    v.setUint16(10, 0xc100, true); // f16 -2.5
    v.setUint16(12, 0x3f80, true); // bf16 1.0
    v.setUint16(14, 0xc0a0, true); // bf16 -5.0
    const file = build(
      {
        a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        b: { dtype: 'F16', shape: [1, 2], data_offsets: [8, 12] },
        c: { dtype: 'BF16', shape: [2, 1], data_offsets: [12, 16] },
        __metadata__: { format: 'pt' },
      },
      data,
    );
    const ck = parseSafetensors(file, 'mem.safetensors');
    expect([...ck.get('a')!.data]).toEqual([1.5, -2.25]);
    expect([...ck.get('b')!.data]).toEqual([1, -2.5]);
    expect(ck.get('b')!.shape).toEqual([1, 2]);
    expect([...ck.get('c')!.data]).toEqual([1, -5]);
    expect(ck.get('c')!.storedAs).toBe('BF16');
  });

  it('rejects offsets outside the file, wrong sizes, bad dtypes and bad headers with typed errors', () => {
    const bad = [
      build({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8)),
      build({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)),
      build({ a: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)),
      build({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(8)),
      new Uint8Array([255, 255, 255, 255, 0, 0, 0, 0, 0x7b]),
      new Uint8Array(3),
    ];
    for (const b of bad) {
      let err: unknown;
      try {
        parseSafetensors(b, 'bad.safetensors');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(RwkvError);
      expect((err as RwkvError).message).toContain('bad.safetensors');
    }
  });

  const p = fixturePath('tiny-rwkv/tiny-rwkv-7v0-834K-FP16.safetensors');
  it.skipIf(p === undefined)('loads a real file with its original checkpoint keys', async () => {
    const { format, checkpoint } = await loadCheckpoint(p!);
    expect(format).toBe('safetensors');
    expect(checkpoint.get('emb.weight')!.shape).toEqual([256, 64]);
    expect(checkpoint.get('blocks.0.att.r_k')!.shape).toEqual([1, 64]);
  });
});
