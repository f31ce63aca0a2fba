// GGUF: the header reader (all value types, alignment, every count checked), the mapping of
// llama.cpp's rwkv6 / rwkv7 tensors back to the original checkpoint layout, the writer
// (byte-identical with the fixture files llama.cpp v0.4.0 was checked on), round trips of every
// v6/v7 fixture checkpoint, `cannot` for what llama.cpp has no architecture for, and typed errors.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RwkvError } from '../../src/errors.ts';
import { floatToHalf, halfToFloat } from '../../src/tensor/float.ts';
import { dequantize, quantize } from '../../src/io/ggml-quants.ts';
import { createGgufWriter, escapeRwkvToken, ggufWriter, parseRwkvVocab } from '../../src/convert/gguf-write.ts';
import { GgufType, ggufMetadataObject, parseGguf, parseGgufBytes, readGgufMetadata } from '../../src/io/gguf.ts';
import { loadCheckpoint, parseCheckpoint } from '../../src/io/load.ts';
import { FileSource } from '../../src/io/source.ts';
import type { Checkpoint } from '../../src/tensor/tensor.ts';
import { MemorySink } from '../../src/io/write.ts';
import { RwkvModel } from '../../src/model/model.ts';
import { fixturePath } from '../helpers/fixtures.ts';
import { randomCheckpoint } from '../helpers/random-model.ts';
import { errorOf } from '../helpers/errors.ts';

function write(ckpt: Checkpoint, writer = ggufWriter, dtype?: 'F32' | 'F16' | 'BF16'): Uint8Array {
  const sink = new MemorySink();
  writer.write(ckpt, sink, dtype !== undefined ? { dtype } : {});
  return sink.bytes();
}

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof RwkvError) return e.code;
    throw e;
  }
  return 'ok';
}

/** Layer 0's v0/v1/v2 are dummies: GGUF holds zeros there and the reader leaves them out. */
const LAYER0_V = /^blocks\.0\.att\.v[012]$/;

/** Every tensor of `a` (but layer 0's v's) is in `b` with the same shape and bit-identical values. */
function expectSameTensors(a: Checkpoint, b: Checkpoint, label: string): void {
  const keysA = [...a.keys()].filter((k) => !LAYER0_V.test(k)).sort();
  expect([...b.keys()].sort(), `${label}: keys`).toEqual(keysA);
  for (const k of keysA) {
    const x = a.get(k)!;
    const y = b.get(k)!;
    expect(y.shape, `${label}: ${k} shape`).toEqual(x.shape);
    const dx = x.data;
    const dy = y.data;
    let bad = -1;
    for (let i = 0; i < dx.length; i++)
      if (!Object.is(dx[i], dy[i])) {
        bad = i;
        break;
      }
    expect(bad, `${label}: ${k} first differing value (${dx[bad]} vs ${dy[bad]})`).toBe(-1);
  }
}

// ---- a tiny GGUF builder for hand-made (and broken) files ----

type KV = [key: string, type: number, value: unknown, elementType?: number];
interface TensorSpec {
  name: string;
  dims: number[];
  type: number;
  data: Uint8Array;
  offset?: number;
}

function buildGguf(kv: KV[], tensors: TensorSpec[], version = 3, alignment = 32): Uint8Array {
  const parts: number[] = [];
  const u32 = (v: number) => parts.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  const u64 = (v: number) => {
    u32(v % 2 ** 32);
    u32(Math.floor(v / 2 ** 32));
  };
  const str = (s: string) => {
    const b = new TextEncoder().encode(s);
    u64(b.length);
    parts.push(...b);
  };
  const scalar = (t: number, v: unknown) => {
    const b = new DataView(new ArrayBuffer(8));
    switch (t) {
      case 0:
      case 7:
        parts.push(Number(v));
        break;
      case 1:
        b.setInt8(0, v as number);
        parts.push(b.getUint8(0));
        break;
      case 2:
      case 3:
        b.setUint16(0, (v as number) & 0xffff, true);
        parts.push(b.getUint8(0), b.getUint8(1));
        break;
      case 4:
        u32(v as number);
        break;
      case 5:
        b.setInt32(0, v as number, true);
        for (let i = 0; i < 4; i++) parts.push(b.getUint8(i));
        break;
      case 6:
        b.setFloat32(0, v as number, true);
        for (let i = 0; i < 4; i++) parts.push(b.getUint8(i));
        break;
      case 8:
        str(v as string);
        break;
      case 10:
        b.setBigUint64(0, BigInt(v as number | bigint), true);
        for (let i = 0; i < 8; i++) parts.push(b.getUint8(i));
        break;
      case 11:
        b.setBigInt64(0, BigInt(v as number | bigint), true);
        for (let i = 0; i < 8; i++) parts.push(b.getUint8(i));
        break;
      case 12:
        b.setFloat64(0, v as number, true);
        for (let i = 0; i < 8; i++) parts.push(b.getUint8(i));
        break;
      default:
        throw new Error(`type ${t}`);
    }
  };
  parts.push(0x47, 0x47, 0x55, 0x46);
  u32(version);
  u64(tensors.length);
  u64(kv.length);
  for (const [k, t, v, et] of kv) {
    str(k);
    u32(t);
    if (t === 9) {
      u32(et!);
      u64((v as unknown[]).length);
      for (const x of v as unknown[]) scalar(et!, x);
    } else scalar(t, v);
  }
  let off = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    str(t.name);
    u32(t.dims.length);
    for (const d of t.dims) u64(d);
    u32(t.type);
    const o = t.offset ?? off;
    offsets.push(o);
    u64(o);
    off = o + t.data.length + ((alignment - (t.data.length % alignment)) % alignment);
  }
  while (parts.length % alignment) parts.push(0);
  const head = Uint8Array.from(parts);
  const out = new Uint8Array(head.length + off);
  out.set(head);
  tensors.forEach((t, i) => out.set(t.data, head.length + offsets[i]!));
  return out;
}

const f32bytes = (a: number[]) => new Uint8Array(Float32Array.from(a).buffer);

describe('GGUF header reader', () => {
  it('reads every metadata value type, arrays, and tensor infos', () => {
    const bytes = buildGguf(
      [
        ['u8', 0, 200],
        ['i8', 1, -5],
        ['u16', 2, 60000],
        ['i16', 3, -3000],
        ['u32', 4, 4e9],
        ['i32', 5, -2e9],
        ['f32', 6, 0.5],
        ['bool', 7, true],
        ['s', 8, 'héllo'],
        ['u64', 10, 2n ** 60n],
        ['i64', 11, -42],
        ['f64', 12, Math.PI],
        ['arr', 9, ['a', 'bc'], 8],
        ['nums', 9, [1, -2, 3], 5],
        ['general.alignment', 4, 64],
      ],
      [{ name: 't', dims: [2, 3], type: 0, data: f32bytes([1, 2, 3, 4, 5, 6]) }],
      3,
      64,
    );
    const h = readGgufMetadata(bytes, 'mem.gguf');
    const m = ggufMetadataObject(h);
    expect(m).toEqual({
      u8: 200,
      i8: -5,
      u16: 60000,
      i16: -3000,
      u32: 4e9,
      i32: -2e9,
      f32: 0.5,
      bool: true,
      s: 'héllo',
      u64: 2n ** 60n,
      i64: -42,
      f64: Math.PI,
      arr: ['a', 'bc'],
      nums: [1, -2, 3],
      'general.alignment': 64,
    });
    expect(h.metadata.get('arr')).toMatchObject({ type: GgufType.ARRAY, elementType: GgufType.STRING });
    expect(h.alignment).toBe(64);
    expect(h.dataOffset % 64).toBe(0);
    expect(h.tensors[0]).toMatchObject({
      name: 't',
      dims: [2, 3],
      shape: [3, 2],
      typeName: 'F32',
      dtype: 'F32',
      bytes: 24,
      offset: h.dataOffset,
    });
    expect(ggufMetadataObject(h, 1)['arr']).toEqual(['a', '… (2 in all)']);
  });

  it('GGUF v2 files read as v3 (same layout); v1 and other versions are refused', () => {
    const kv: KV[] = [['x', 4, 1]];
    expect(readGgufMetadata(buildGguf(kv, [], 2)).version).toBe(2);
    expect(errorOf(() => readGgufMetadata(buildGguf(kv, [], 1), 'old.gguf'))).toMatchObject({
      code: 'UNSUPPORTED_FORMAT',
      file: 'old.gguf',
    });
    expect(codeOf(() => readGgufMetadata(buildGguf(kv, [], 4)))).toBe('UNSUPPORTED_FORMAT');
    expect(errorOf(() => readGgufMetadata(buildGguf(kv, [], 0x03000000))).message).toMatch(/big-endian/);
    expect(errorOf(() => readGgufMetadata('/nonexistent/model.gguf'))).toMatchObject({
      code: 'FILE_NOT_FOUND',
      file: '/nonexistent/model.gguf',
    });
  });

  it('checks counts, lengths and offsets against the file before reading', () => {
    const ok = buildGguf([['k', 8, 'v']], [{ name: 't', dims: [4], type: 0, data: f32bytes([1, 2, 3, 4]) }]);
    const set64 = (b: Uint8Array, at: number, v: bigint) => {
      const c = b.slice();
      new DataView(c.buffer).setBigUint64(at, v, true);
      return c;
    };
    // tensor count, kv count, key length: huge
    for (const at of [8, 16, 24]) {
      const e = errorOf(() => readGgufMetadata(set64(ok, at, 2n ** 62n), 'bad.gguf'));
      expect(e.code).toBe('FILE_FORMAT');
      expect(e.file).toBe('bad.gguf');
    }
    expect(errorOf(() => readGgufMetadata(set64(ok, 8, 10n ** 6n))).message).toMatch(/more entries than the file can hold/);
    // a truncated file
    expect(errorOf(() => readGgufMetadata(ok.subarray(0, 70), 'cut.gguf')).message).toMatch(/cut.gguf.*runs past the end/);
    // tensor data beyond the end
    const e = errorOf(() => readGgufMetadata(ok.subarray(0, ok.length - 20), 'cut.gguf'));
    expect(e).toMatchObject({ code: 'FILE_FORMAT', tensor: 't' });
    // misaligned tensor offset, bad alignment, bad magic, duplicates, nested arrays, too many dims
    expect(
      errorOf(() => readGgufMetadata(buildGguf([], [{ name: 't', dims: [4], type: 0, data: f32bytes([1, 2, 3, 4]), offset: 4 }]))).message,
    ).toMatch(/not aligned/);
    expect(codeOf(() => readGgufMetadata(buildGguf([['general.alignment', 4, 3]], [])))).toBe('FILE_FORMAT');
    expect(
      errorOf(() => readGgufMetadata(Uint8Array.from([...'GGUX'].map((c) => c.charCodeAt(0)).concat(new Array(30).fill(0))))).message,
    ).toMatch(/bad magic/);
    expect(
      errorOf(() =>
        readGgufMetadata(
          buildGguf(
            [
              ['a', 4, 1],
              ['a', 4, 2],
            ],
            [],
          ),
        ),
      ).message,
    ).toMatch(/duplicate metadata key "a"/);
    expect(
      errorOf(() =>
        readGgufMetadata(
          buildGguf(
            [],
            [
              { name: 't', dims: [1], type: 0, data: f32bytes([1]) },
              { name: 't', dims: [1], type: 0, data: f32bytes([1]) },
            ],
          ),
        ),
      ).message,
    ).toMatch(/duplicate tensor/);
    expect(errorOf(() => readGgufMetadata(buildGguf([['a', 9, [], 9]], []))).message).toMatch(/array of arrays/);
    expect(
      errorOf(() => readGgufMetadata(buildGguf([], [{ name: 't', dims: [1, 1, 1, 1, 1], type: 0, data: f32bytes([1]) }]))).message,
    ).toMatch(/number of dimensions/);
    // an array claiming 2^40 elements is refused before anything is allocated
    const big = buildGguf([['arr', 9, [1, 2], 4]], []);
    const at = big.indexOf(0x61 /* 'a' */) + 3 + 4 + 4; // after key "arr", its type and element type
    expect(errorOf(() => readGgufMetadata(set64(big, at, 2n ** 40n))).message).toMatch(/more elements than the file can hold/);
  });

  it('quantized rows must be whole blocks', () => {
    const e = errorOf(() => readGgufMetadata(buildGguf([], [{ name: 'q', dims: [16, 2], type: 8, data: new Uint8Array(34) }]), 'q.gguf'));
    expect(e).toMatchObject({ code: 'FILE_FORMAT', tensor: 'q' });
  });
});

describe('GGUF → checkpoint', () => {
  const archKv = (arch: string): KV[] => [
    ['general.architecture', 8, arch],
    [`${arch}.block_count`, 4, 1],
    [`${arch}.embedding_length`, 4, 32],
    [`${arch}.wkv.head_size`, 4, 32],
  ];
  it('unknown tensor types are UNSUPPORTED_DTYPE naming the tensor and its type', () => {
    const bytes = buildGguf(archKv('rwkv7'), [{ name: 'token_embd.weight', dims: [256, 1], type: 12, data: new Uint8Array(144) }]);
    const e = errorOf(() => parseGgufBytes(bytes, 'k.gguf'));
    expect(e).toMatchObject({ code: 'UNSUPPORTED_DTYPE', file: 'k.gguf', tensor: 'token_embd.weight', actual: 'Q4_K' });
    // the header itself still reads (for `rwkv info`)
    expect(readGgufMetadata(bytes).tensors[0]!.typeName).toBe('Q4_K');
  });
  it('other architectures are refused by name', () => {
    expect(errorOf(() => parseGgufBytes(buildGguf(archKv('llama'), []), 'l.gguf'))).toMatchObject({
      code: 'UNKNOWN_ARCHITECTURE',
      actual: 'llama',
    });
    expect(errorOf(() => parseGgufBytes(buildGguf(archKv('arwkv7'), [])))).toMatchObject({ code: 'UNKNOWN_ARCHITECTURE' });
    expect(codeOf(() => parseGgufBytes(buildGguf([], [])))).toBe('FILE_FORMAT');
  });
  it('tensors llama.cpp does not have are refused by name', () => {
    const e = errorOf(() =>
      parseGgufBytes(buildGguf(archKv('rwkv7'), [{ name: 'blk.0.mystery.weight', dims: [1], type: 0, data: f32bytes([1]) }])),
    );
    expect(e).toMatchObject({ code: 'FILE_FORMAT', tensor: 'blk.0.mystery.weight' });
    const past = errorOf(() =>
      parseGgufBytes(buildGguf(archKv('rwkv7'), [{ name: 'blk.3.attn_norm.weight', dims: [32], type: 0, data: new Uint8Array(128) }])),
    );
    expect(past.message).toMatch(/past rwkv7.block_count/);
  });
  it('RWKV-6 files from Hugging Face checkpoints: rescaled weights are multiplied back', () => {
    const kv: KV[] = [
      ['general.architecture', 8, 'rwkv6'],
      ['rwkv6.block_count', 4, 3],
      ['rwkv6.embedding_length', 4, 32],
      ['rwkv6.wkv.head_size', 4, 32],
      ['rwkv6.rescale_every_n_layers', 4, 1],
    ];
    const w = Array.from({ length: 32 * 32 }, (_, i) => (i % 7) - 3);
    // block 2 with rescaling every layer: the converter divided by 2^2
    const bytes = buildGguf(kv, [
      { name: 'blk.2.time_mix_output.weight', dims: [32, 32], type: 0, data: f32bytes(w) },
      { name: 'blk.2.channel_mix_value.weight', dims: [32, 32], type: 0, data: f32bytes(w) },
      { name: 'blk.2.time_mix_key.weight', dims: [32, 32], type: 0, data: f32bytes(w) },
    ]);
    const ck = parseGgufBytes(bytes);
    expect(ck.get('blocks.2.att.output.weight')!.data[1]).toBe(w[1]! * 4);
    expect(ck.get('blocks.2.ffn.value.weight')!.data[1]).toBe(w[1]! * 4);
    expect(ck.get('blocks.2.att.key.weight')!.data[1]).toBe(w[1]!);
    expect(ck.get('blocks.2.att.output.weight')!.raw).toBeUndefined(); // not the stored bytes any more
  });
});

describe('the fixture GGUF files (llama.cpp v0.4.0 loads them; docs/fixtures.md)', () => {
  it('metadata and tensor names as llama.cpp writes them', (ctx) => {
    const p = fixturePath('gguf/tiny-rwkv7-834K-f32.gguf');
    if (p === undefined) return ctx.skip();
    const h = readGgufMetadata(p);
    expect(h.version).toBe(3);
    expect(h.tensors.length).toBe(342);
    const m = ggufMetadataObject(h);
    expect(m).toMatchObject({
      'general.architecture': 'rwkv7',
      'rwkv7.block_count': 12,
      'rwkv7.embedding_length': 64,
      'rwkv7.wkv.head_size': 64,
      'rwkv7.attention.decay_lora_rank': 32,
      'tokenizer.ggml.model': 'rwkv',
    });
    expect((m['tokenizer.ggml.tokens'] as string[]).length).toBe(256);
  });

  it('the f32 file holds exactly the FP32 .bin checkpoint, in the original layout', async (ctx) => {
    const g = fixturePath('gguf/tiny-rwkv7-834K-f32.gguf');
    const b = fixturePath('tiny-rwkv/tiny-rwkv-7v0-834K-FP32.bin');
    if (g === undefined || b === undefined) return ctx.skip();
    const gguf = (await loadCheckpoint(g)).checkpoint;
    expectSameTensors((await loadCheckpoint(b)).checkpoint, gguf, 'f32 gguf vs FP32 .bin');
    expect(gguf.get('blocks.3.att.r_k')!.shape).toEqual([1, 64]);
    expect(gguf.get('blocks.3.att.x_g')!.shape).toEqual([1, 1, 64]);
    expect(gguf.get('blocks.3.att.a1')!.shape).toEqual([64, 32]);
  });

  it('the f16 and q8_0 files hold the FP32 values rounded to f16 / Q8_0 blocks', async (ctx) => {
    const b = fixturePath('tiny-rwkv/tiny-rwkv-7v0-834K-FP32.bin');
    const g16 = fixturePath('gguf/tiny-rwkv7-834K-f16.gguf');
    const g8 = fixturePath('gguf/tiny-rwkv7-834K-q8_0.gguf');
    if (b === undefined || g16 === undefined || g8 === undefined) return ctx.skip();
    const ref = (await loadCheckpoint(b)).checkpoint;
    const f16 = parseGguf(new FileSource(g16));
    const q8 = parseGguf(new FileSource(g8));
    const key = 'blocks.5.att.key.weight'; // stored as is: blocks run along its rows
    expect(f16.get(key)!.storedAs).toBe('F16');
    expect([...f16.get(key)!.data]).toEqual([...ref.get(key)!.data].map((v) => halfToFloat(floatToHalf(v))));
    expect(q8.get(key)!.storedAs).toBe('Q8_0');
    expect([...q8.get(key)!.data]).toEqual([...dequantize('Q8_0', quantize('Q8_0', ref.get(key)!.data), 64 * 64)]);
    expect(q8.get(key)!.raw!().length).toBe(((64 * 64) / 32) * 34);
    expect(q8.get('blocks.5.att.w1')!.storedAs).toBe('F32'); // the decay LoRA stays F32
  });
});

describe('GGUF writer', () => {
  it('writes the fixture files byte for byte from the FP32 .bin (F32, F16, Q8_0)', async (ctx) => {
    const b = fixturePath('tiny-rwkv/tiny-rwkv-7v0-834K-FP32.bin');
    if (b === undefined) return ctx.skip();
    const ck = (await loadCheckpoint(b)).checkpoint;
    const cases = [
      ['f32', createGgufWriter({ name: 'rwkv7-from-rwkvcpp' }), undefined],
      ['f16', createGgufWriter({ name: 'rwkv7-from-rwkvcpp' }), 'F16'],
      ['q8_0', createGgufWriter({ name: 'rwkv7-from-rwkvcpp', quantize: 'Q8_0' }), undefined],
    ] as const;
    for (const [tag, writer, dtype] of cases) {
      const ref = fixturePath(`gguf/tiny-rwkv7-834K-${tag}.gguf`);
      if (ref === undefined) continue;
      const ours = write(ck, writer, dtype);
      expect(Buffer.compare(Buffer.from(ours), readFileSync(ref)), `${tag}: our file differs from the fixture`).toBe(0);
    }
  });

  it('a Q8_0 file read and written again with Q8_0 is the same file (blocks copied or requantized to themselves)', (ctx) => {
    const g8 = fixturePath('gguf/tiny-rwkv7-834K-q8_0.gguf');
    if (g8 === undefined) return ctx.skip();
    const ours = write(parseGguf(new FileSource(g8)), createGgufWriter({ name: 'rwkv7-from-rwkvcpp', quantize: 'Q8_0' }));
    expect(Buffer.compare(Buffer.from(ours), readFileSync(g8))).toBe(0);
  });

  const FIXTURE_CHECKPOINTS = [
    'tiny-rwkv/tiny-rwkv-6v0-1m-FP32.bin',
    'tiny-rwkv/tiny-rwkv-6v0-1m-FP16.bin',
    'tiny-rwkv/tiny-rwkv-6v0-1m-FP16.safetensors',
    'tiny-rwkv/tiny-rwkv-7v0-834K-FP32.bin',
    'tiny-rwkv/tiny-rwkv-7v0-834K-FP16.bin',
    'tiny-rwkv/tiny-rwkv-7v0-834K-FP16.safetensors',
    'synthetic/models/synthetic-rwkv6-L2-C128-H2-BF16.safetensors',
    'synthetic/models/synthetic-rwkv7-L3-C128-H2-BF16.safetensors',
  ];
  for (const f of FIXTURE_CHECKPOINTS) {
    it(`round trip ${f.split('/').pop()} → GGUF → checkpoint: bit-exact tensors, same dtypes, same logits`, async (ctx) => {
      const p = fixturePath(f);
      if (p === undefined) return ctx.skip();
      const src = (await loadCheckpoint(p)).checkpoint;
      const bytes = write(src);
      const back = parseCheckpoint(bytes, 'rt.gguf');
      expect(back.format).toBe('gguf');
      expectSameTensors(src, back.checkpoint, f);
      // matrices keep their dtype; vectors and LoRAs are F32 in GGUF (exact for F16/BF16 values)
      for (const k of ['emb.weight', 'head.weight', 'blocks.1.att.key.weight', 'blocks.1.ffn.value.weight']) {
        expect(back.checkpoint.get(k)!.storedAs, k).toBe(src.get(k)!.storedAs);
      }
      const tokens = [...new TextEncoder().encode('The small model reads')];
      const a = RwkvModel.fromCheckpoint(src, { backend: 'ts', weights: 'f32' });
      const b = RwkvModel.fromCheckpoint(back.checkpoint, { backend: 'ts', weights: 'f32' });
      const la = (await a.forward(tokens, a.createState())).logits as Float32Array;
      const lb = (await b.forward(tokens, b.createState())).logits as Float32Array;
      expect([...lb]).toEqual([...la]);
    });
  }

  it('F16 / BF16 / quantized output holds the rounded values, F32 where llama.cpp wants F32', () => {
    const ck = randomCheckpoint({
      version: '7',
      nLayer: 2,
      nHead: 2,
      headSize: 32,
      nFfn: 96,
      nVocab: 256,
      ranks: { maa: 1, decay: 1, w: 8, a: 8, v: 4, g: 8, s: 1 },
      timeState: false,
      seed: 11,
    });
    const key = 'blocks.1.att.value.weight';
    const x = ck.get(key)!.data;
    const f16 = parseGgufBytes(write(ck, ggufWriter, 'F16'));
    expect([...f16.get(key)!.data]).toEqual([...x].map((v) => halfToFloat(floatToHalf(v))));
    expect(f16.get('blocks.1.att.w1')!.storedAs).toBe('F32');
    expect(f16.get('blocks.1.att.x_k')!.storedAs).toBe('F32');
    expect(f16.get('blocks.1.att.a1')!.storedAs).toBe('F16');
    const bf16 = parseGgufBytes(write(ck, ggufWriter, 'BF16'));
    expect(bf16.get(key)!.storedAs).toBe('BF16');
    for (const q of ['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1'] as const) {
      const back = parseGgufBytes(write(ck, createGgufWriter({ quantize: q })));
      expect(back.get(key)!.storedAs).toBe(q);
      expect([...back.get(key)!.data]).toEqual([...dequantize(q, quantize(q, x), x.length)]);
      // a1 is stored transposed ([D, C] in GGUF): blocks run along C there
      expect(back.get('blocks.1.att.a1')!.storedAs).toBe(q);
      expect(back.get('blocks.1.att.x_r')!.storedAs).toBe('F32');
    }
  });

  it('random v6 and v7 models with small odd sizes round trip (rows not whole blocks stay float)', () => {
    for (const version of ['6', '7'] as const) {
      const ck = randomCheckpoint({
        version,
        nLayer: 2,
        nHead: 3,
        headSize: 4,
        nFfn: 20,
        nVocab: 256,
        ranks: { maa: 3, decay: 5, w: 3, a: 2, v: 5, g: 7, s: 1 },
        timeState: false,
        seed: 5,
      });
      const back = parseGgufBytes(write(ck, createGgufWriter({ quantize: 'Q4_0' })));
      expectSameTensors(ck, back, `random v${version}`);
      expect(back.get('blocks.0.att.key.weight')!.storedAs).toBe('F32');
    }
  });

  it('cannot: RWKV-4 and RWKV-5 (llama.cpp has no such architectures), DeepEmbed, state tuning, no vocabulary', () => {
    const spec = {
      nLayer: 1,
      nHead: 2,
      headSize: 4,
      nFfn: 16,
      nVocab: 256,
      ranks: { maa: 2, decay: 2, w: 2, a: 2, v: 2, g: 2, s: 2 },
      timeState: false,
      seed: 1,
    };
    expect(ggufWriter.cannot(randomCheckpoint({ ...spec, version: '4' }))).toMatch(/GGUF \(llama\.cpp\) has no RWKV-4 architecture/);
    for (const v of ['5.0', '5.1', '5.2'] as const) {
      expect(ggufWriter.cannot(randomCheckpoint({ ...spec, version: v }))).toMatch(/GGUF \(llama\.cpp\) has no RWKV-5 architecture/);
    }
    expect(ggufWriter.cannot(randomCheckpoint({ ...spec, version: '7-deepembed' }))).toMatch(/DeepEmbed/);
    expect(ggufWriter.cannot(randomCheckpoint({ ...spec, version: '6', timeState: true }))).toMatch(/time_state/);
    expect(ggufWriter.cannot(randomCheckpoint({ ...spec, version: '7', nVocab: 300 }))).toMatch(/vocabulary/);
    expect(ggufWriter.cannot(randomCheckpoint({ ...spec, version: '7' }))).toBeUndefined();
    expect(ggufWriter.cannot(randomCheckpoint({ ...spec, version: '6' }))).toBeUndefined();
    const e = errorOf(() => write(randomCheckpoint({ ...spec, version: '5.2' })));
    expect(e.code).toBe('UNSUPPORTED_FORMAT');
  });
});

describe('tokenizer metadata', () => {
  it("token text is Python's bytes repr, as llama.cpp's rwkv vocab unescapes it", () => {
    const t = (s: string | number[]) => escapeRwkvToken(typeof s === 'string' ? new TextEncoder().encode(s) : Uint8Array.from(s));
    expect(t('abc')).toBe('abc');
    expect(t("'")).toBe("'"); // repr b"'" uses double quotes: nothing escaped
    expect(t('\'"')).toBe('\\\'"'); // both quotes: single quotes, \' escaped
    expect(t('\\')).toBe('\\\\');
    expect(t([9, 10, 13, 0, 0x7f, 0xff])).toBe('\\t\\n\\r\\x00\\x7f\\xff');
    expect(t('é')).toBe('\\xc3\\xa9');
  });

  it('the byte vocabulary is the one in the fixture files', (ctx) => {
    const p = fixturePath('gguf/tiny-rwkv7-834K-f32.gguf');
    if (p === undefined) return ctx.skip();
    const theirs = ggufMetadataObject(readGgufMetadata(p))['tokenizer.ggml.tokens'];
    expect(Array.from({ length: 256 }, (_, i) => escapeRwkvToken(Uint8Array.of(i)))).toEqual(theirs);
  });

  it('parses the World vocabulary and writes it as llama.cpp does (<s> at 0, ids from the file)', (ctx) => {
    const p = fixturePath('rwkv_vocab_v20230424.txt');
    if (p === undefined) return ctx.skip();
    const vocab = parseRwkvVocab(readFileSync(p, 'utf8'), p);
    expect(vocab.length).toBe(65530);
    expect(vocab[0]).toBeUndefined();
    expect([...vocab[1]!]).toEqual([0]);
    expect([...vocab[9804]!]).toEqual([0xe2, 0x80, 0x82]); // '\u2002'
    expect(new TextDecoder().decode(vocab[65529])).toBe(' '.repeat(128));
    // the public tokenizer cases: the tokens' bytes spell the text
    const tp = fixturePath('tokenizer-world-public.json');
    if (tp !== undefined) {
      const { cases } = JSON.parse(readFileSync(tp, 'utf8')) as { cases: { text: string; tokens: number[] }[] };
      expect(cases.length).toBeGreaterThan(5);
      for (const c of cases) {
        const bytes = c.tokens.flatMap((i) => [...vocab[i]!]);
        expect(new TextDecoder().decode(Uint8Array.from(bytes)), c.text).toBe(c.text);
      }
    }
    const ck = randomCheckpoint({
      version: '7',
      nLayer: 1,
      nHead: 1,
      headSize: 32,
      nFfn: 32,
      nVocab: 65536,
      ranks: { maa: 1, decay: 1, w: 2, a: 2, v: 2, g: 2, s: 1 },
      timeState: false,
      seed: 2,
    });
    expect(ggufWriter.cannot(ck)).toMatch(/rwkv_vocab_v20230424/);
    const h = readGgufMetadata(write(ck, createGgufWriter({ vocab })));
    const m = ggufMetadataObject(h);
    const tokens = m['tokenizer.ggml.tokens'] as string[];
    const types = m['tokenizer.ggml.token_type'] as number[];
    expect(tokens.length).toBe(65536);
    expect([tokens[0], types[0], tokens[1], tokens[65535], types[65535]]).toEqual(['<s>', 3, '\\x00', '[PAD65535]', 5]);
    expect(m['tokenizer.ggml.bos_token_id']).toBe(0);
  });

  it('vocabulary files with broken lines are FILE_FORMAT errors naming the line', () => {
    expect(errorOf(() => parseRwkvVocab("1 'a' 1\n2 'bc' 3\n", 'v.txt')).message).toMatch(/v\.txt.*line 2/);
    expect(codeOf(() => parseRwkvVocab("1 'a\\q' 2\n"))).toBe('FILE_FORMAT');
    expect([...parseRwkvVocab("5 b'\\xff\\'' 2\n")[5]!]).toEqual([0xff, 0x27]);
  });
});
