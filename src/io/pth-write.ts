// `.pth` writer: the zip layout torch.save writes, so that `torch.load` (weights_only too) reads
// the result, and so does parsePth:
//   archive/data.pkl     pickle protocol 2: an OrderedDict built with collections.OrderedDict,
//                        each tensor torch._utils._rebuild_tensor_v2 over a persistent id
//                        ('storage', torch.<T>Storage, '<n>', 'cpu', numel)
//   archive/byteorder    "little"
//   archive/data/<n>     the raw little-endian bytes of tensor n (its own storage, offset 0, contiguous)
//   archive/version      "3"
// Every entry is STORED, its data 64-byte aligned (padding in the local header's extra field, as
// torch does). Tensors are encoded and written one at a time (streaming). zip64 records are
// written when an entry, an offset or the directory passes the 32-bit limits (or always, on request).

import { RwkvError, shapeString } from '../errors.ts';
import { PTH_STORAGE_OF } from './pth.ts';
import type { Checkpoint } from '../tensor/tensor.ts';
import {
  type ByteSink,
  type CheckpointWriter,
  DTYPE_BYTES,
  type FloatDType,
  type WriteOptions,
  encodeTensor,
  targetDType,
} from './write.ts';
import { crc32 } from './zip.ts';

export interface PthWriteOptions extends WriteOptions {
  /** Name of the archive's top folder (torch uses the file name's stem; default "archive"). */
  archiveName?: string;
  /** 'always' writes zip64 records even when nothing needs them (for tests); default 'auto'. */
  zip64?: 'auto' | 'always';
}

const ALIGN = 64;
const U32_MAX = 0xffffffff;
const DOS_DATE_1980_01_01 = (0 << 9) | (1 << 5) | 1;
const FLAG_UTF8 = 0x0800;
const WRITE_CHUNK = 1 << 28;
const PAD_EXTRA_ID = 0x4246; // a private extra field holding only padding (torch uses the same id)

const utf8 = new TextEncoder();

/** Little-endian byte writer into a growing buffer. */
class Bytes {
  private buf = new Uint8Array(256);
  length = 0;
  private room(k: number): void {
    if (this.length + k <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + k) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.length));
    this.buf = b;
  }
  u8(v: number): this {
    this.room(1);
    this.buf[this.length++] = v & 0xff;
    return this;
  }
  u16(v: number): this {
    return this.u8(v).u8(v >>> 8);
  }
  u32(v: number): this {
    return this.u16(v & 0xffff).u16(Math.floor(v / 0x10000) & 0xffff);
  }
  u64(v: number): this {
    return this.u32(v % 0x100000000).u32(Math.floor(v / 0x100000000));
  }
  bytes(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
    return this;
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

// ---- pickle (protocol 2) ----

class PickleWriter {
  readonly out = new Bytes();
  private memo = new Map<string, number>();
  op(code: number): this {
    this.out.u8(code);
    return this;
  }
  int(v: number): this {
    if (!Number.isSafeInteger(v)) throw new Error(`pth writer: ${v} is not a safe integer`);
    if (v >= 0 && v < 0x100) return this.op(0x4b).op(v); // BININT1
    if (v >= 0 && v < 0x10000) {
      this.op(0x4d).out.u16(v); // BININT2
      return this;
    }
    if (v >= -0x80000000 && v < 0x80000000) {
      this.op(0x4a).out.u32(v >>> 0); // BININT
      return this;
    }
    // LONG1: minimal two's complement, little-endian
    const bytes: number[] = [];
    let x = BigInt(v);
    for (;;) {
      const b = Number(x & 0xffn);
      bytes.push(b);
      x >>= 8n;
      if ((x === 0n && !(b & 0x80)) || (x === -1n && b & 0x80)) break;
    }
    this.op(0x8a).op(bytes.length);
    for (const b of bytes) this.op(b);
    return this;
  }
  str(s: string): this {
    const b = utf8.encode(s);
    this.op(0x58).out.u32(b.length); // BINUNICODE
    this.out.bytes(b);
    return this;
  }
  private put(key: string): void {
    const i = this.memo.size;
    this.memo.set(key, i);
    if (i < 0x100)
      this.op(0x71).op(i); // BINPUT
    else {
      this.op(0x72).out.u32(i); // LONG_BINPUT
    }
  }
  /** push a value, memoized under `key`: the first time via `emit`, later as a memo get */
  memoized(key: string, emit: () => void): this {
    const i = this.memo.get(key);
    if (i === undefined) {
      emit();
      this.put(key);
    } else if (i < 0x100)
      this.op(0x68).op(i); // BINGET
    else {
      this.op(0x6a).out.u32(i); // LONG_BINGET
    }
    return this;
  }
  global(module: string, name: string): this {
    return this.memoized(`global:${module}.${name}`, () => {
      this.op(0x63).out.bytes(utf8.encode(`${module}\n${name}\n`)); // GLOBAL
    });
  }
  tuple(items: readonly number[]): this {
    if (items.length === 0) return this.op(0x29); // EMPTY_TUPLE
    if (items.length > 3) this.op(0x28); // MARK
    for (const v of items) this.int(v);
    return this.op([0x74, 0x85, 0x86, 0x87][items.length > 3 ? 0 : items.length]!); // TUPLE / TUPLE1..3
  }
}

interface Plan {
  key: string;
  shape: readonly number[];
  dtype: FloatDType;
  numel: number;
  bytes: number;
}

function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= Math.max(shape[i]!, 1);
  }
  return s;
}

/** data.pkl for `plans`: OrderedDict(key -> _rebuild_tensor_v2(storage i, 0, shape, strides, False, OrderedDict())). */
function statePickle(plans: readonly Plan[]): Uint8Array {
  const p = new PickleWriter();
  p.op(0x80).op(2); // PROTO 2
  p.global('collections', 'OrderedDict').op(0x29).op(0x52); // OrderedDict()
  const BATCH = 1000; // as Python's pickler batches SETITEMS
  for (let b = 0; b < plans.length; b += BATCH) {
    p.op(0x28); // MARK
    for (let i = b; i < Math.min(plans.length, b + BATCH); i++) {
      const t = plans[i]!;
      p.str(t.key);
      p.global('torch._utils', '_rebuild_tensor_v2');
      p.op(0x28); // MARK (arguments)
      p.op(0x28); // MARK (persistent id)
      p.memoized('str:storage', () => p.str('storage'));
      p.global('torch', PTH_STORAGE_OF[t.dtype]);
      p.str(String(i));
      p.memoized('str:cpu', () => p.str('cpu'));
      p.int(t.numel);
      p.op(0x74).op(0x51); // TUPLE, BINPERSID
      p.int(0); // storage offset
      p.tuple(t.shape);
      p.tuple(contiguousStrides(t.shape));
      p.op(0x89); // NEWFALSE (requires_grad)
      p.global('collections', 'OrderedDict').op(0x29).op(0x52); // backward_hooks = OrderedDict()
      p.op(0x74).op(0x52); // TUPLE, REDUCE
    }
    p.op(0x75); // SETITEMS
  }
  p.op(0x2e); // STOP
  return p.out.done();
}

// ---- zip ----

interface Written {
  name: Uint8Array;
  crc: number;
  size: number;
  offset: number;
}

/**
 * A zip archive of STORED entries written straight to a sink, each entry's data 64-byte aligned;
 * `alwaysZip64` writes zip64 records even where the 32-bit fields would do.
 */
export class StoredZipWriter {
  private readonly entries: Written[] = [];
  private readonly base: number;
  constructor(
    private readonly sink: ByteSink,
    private readonly always64 = false,
  ) {
    this.base = sink.position;
  }
  private get pos(): number {
    return this.sink.position - this.base;
  }
  /** one STORED entry, its data starting at a multiple of 64 */
  add(name: string, data: Uint8Array): void {
    const nameBytes = utf8.encode(name);
    const offset = this.pos;
    const crc = crc32(data);
    const size = data.length;
    const z64 = this.always64 || size >= U32_MAX;
    const fixed = 30 + nameBytes.length + (z64 ? 20 : 0);
    const pad = ((ALIGN - ((offset + fixed + 4) % ALIGN)) % ALIGN) + 4; // padding field, header included
    const h = new Bytes();
    h.u32(0x04034b50)
      .u16(z64 ? 45 : 20)
      .u16(FLAG_UTF8)
      .u16(0)
      .u16(0)
      .u16(DOS_DATE_1980_01_01);
    h.u32(crc)
      .u32(z64 ? U32_MAX : size)
      .u32(z64 ? U32_MAX : size);
    h.u16(nameBytes.length)
      .u16(pad + (z64 ? 20 : 0))
      .bytes(nameBytes);
    if (z64) h.u16(0x0001).u16(16).u64(size).u64(size);
    h.u16(PAD_EXTRA_ID).u16(pad - 4);
    for (let i = 4; i < pad; i++) h.u8(0x5a); // 'Z'
    this.sink.write(h.done());
    // in pieces: one write call of 2 GiB or more is refused by Node's fs.writeSync
    for (let o = 0; o < data.length; o += WRITE_CHUNK) this.sink.write(data.subarray(o, Math.min(data.length, o + WRITE_CHUNK)));
    this.entries.push({ name: nameBytes, crc, size, offset });
  }
  finish(): void {
    const cdOffset = this.pos;
    for (const e of this.entries) {
      const bigSize = this.always64 || e.size >= U32_MAX;
      const bigOffset = this.always64 || e.offset >= U32_MAX;
      const extra = new Bytes();
      if (bigSize || bigOffset) {
        extra.u16(0x0001).u16((bigSize ? 16 : 0) + (bigOffset ? 8 : 0));
        if (bigSize) extra.u64(e.size).u64(e.size);
        if (bigOffset) extra.u64(e.offset);
      }
      const ex = extra.done();
      const z64 = ex.length > 0;
      const c = new Bytes();
      c.u32(0x02014b50)
        .u16(z64 ? 45 : 20)
        .u16(z64 ? 45 : 20)
        .u16(FLAG_UTF8)
        .u16(0)
        .u16(0)
        .u16(DOS_DATE_1980_01_01);
      c.u32(e.crc)
        .u32(bigSize ? U32_MAX : e.size)
        .u32(bigSize ? U32_MAX : e.size);
      c.u16(e.name.length)
        .u16(ex.length)
        .u16(0)
        .u16(0)
        .u16(0)
        .u32(0)
        .u32(bigOffset ? U32_MAX : e.offset);
      c.bytes(e.name).bytes(ex);
      this.sink.write(c.done());
    }
    const cdSize = this.pos - cdOffset;
    const count = this.entries.length;
    const need64 = this.always64 || count >= 0xffff || cdSize >= U32_MAX || cdOffset >= U32_MAX;
    const end = new Bytes();
    if (need64) {
      const z64At = this.pos;
      end.u32(0x06064b50).u64(44).u16(45).u16(45).u32(0).u32(0).u64(count).u64(count).u64(cdSize).u64(cdOffset);
      end.u32(0x07064b50).u32(0).u64(z64At).u32(1);
    }
    end.u32(0x06054b50).u16(0).u16(0);
    end.u16(need64 ? 0xffff : count).u16(need64 ? 0xffff : count);
    end
      .u32(need64 ? U32_MAX : cdSize)
      .u32(need64 ? U32_MAX : cdOffset)
      .u16(0);
    this.sink.write(end.done());
  }
}

/** Write `ckpt` as a torch.save-compatible `.pth` to `sink`, one tensor at a time. */
export function writePth(ckpt: Checkpoint, sink: ByteSink, options: PthWriteOptions = {}): void {
  const dir = options.archiveName ?? 'archive';
  if (dir === '' || dir.includes('/')) {
    throw new RwkvError('INVALID_ARGUMENT', 'archive name must be a non-empty name without "/"', { argument: 'archiveName', actual: dir });
  }
  const plans: Plan[] = [];
  for (const [key, t] of ckpt) {
    const dtype = targetDType(t, ['F32', 'F16', 'BF16'], options.dtype);
    let numel = 1;
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d < 0)
        throw new RwkvError('SHAPE_MISMATCH', 'tensor has a bad shape', { tensor: key, actual: shapeString(t.shape) });
      numel *= d;
    }
    plans.push({ key, shape: t.shape, dtype, numel, bytes: numel * DTYPE_BYTES[dtype] });
  }
  const zip = new StoredZipWriter(sink, options.zip64 === 'always');
  zip.add(`${dir}/data.pkl`, statePickle(plans));
  zip.add(`${dir}/byteorder`, utf8.encode('little'));
  plans.forEach((p, i) => {
    const bytes = encodeTensor(ckpt.get(p.key)!, p.dtype);
    if (bytes.length !== p.bytes) {
      throw new RwkvError('SHAPE_MISMATCH', 'tensor encoded to the wrong number of bytes', {
        tensor: p.key,
        expected: `${p.bytes} bytes for ${p.dtype} ${shapeString(p.shape)}`,
        actual: `${bytes.length}`,
      });
    }
    zip.add(`${dir}/data/${i}`, bytes);
    options.onProgress?.(i + 1, plans.length, sink.position);
  });
  zip.add(`${dir}/version`, utf8.encode('3\n'));
  zip.finish();
}

export const pthWriter: CheckpointWriter = {
  format: 'pth',
  cannot: () => undefined,
  write: (ckpt, sink, options) => writePth(ckpt, sink, options),
};
