// PyTorch `.pth` / `.pt` files (torch.save's zip format, torch >= 1.6), read directly, safely and
// lazily. The archive is `<stem>/data.pkl` (a pickle of the state dict), `<stem>/data/<key>` (raw
// little-endian storage bytes, one entry per storage, stored uncompressed) and a few small
// entries (`version`, `byteorder`, ...).
//
// Safety: data.pkl is read by src/io/pickle.ts, which builds data only. The allow-list below is
// everything a state dict needs: `collections.OrderedDict`, torch's tensor/parameter rebuild
// functions and the `torch.*Storage` types, each handled here by a small TypeScript function that
// records what the pickle describes. Any other global (os.system, builtins.eval, a model class,
// ...) is refused with UNSAFE_PICKLE the moment the pickle names it; nothing is ever executed.
//
// Laziness: only the zip directory and data.pkl are read up front. A tensor's bytes are read from
// its storage entry when its `data` (or `raw`) is asked for, honouring the storage offset and the
// strides (non-contiguous views are gathered), so a checkpoint is never held in memory whole.

import { RwkvError, shapeString } from '../errors.ts';
import { decodeToF32 } from '../tensor/float.ts';
import { type AllowedGlobal, PickleDict, PickleList, PickleTuple, PickleGlobal, type PickleValue, unpickle } from './pickle.ts';
import { type ByteSource, MemorySource } from './source.ts';
import { type Checkpoint, type StoredDType, lazyTensor } from '../tensor/tensor.ts';
import { crc32, readZip, type ZipArchive, type ZipEntry } from './zip.ts';

type FloatDType = 'F32' | 'F16' | 'BF16';

/** torch storage types: element size, and the dtype we read (undefined: recognised, not readable). */
export const TORCH_STORAGE_TYPES: Readonly<Record<string, { bytes: number; dtype?: FloatDType; torchName: string }>> = {
  FloatStorage: { bytes: 4, dtype: 'F32', torchName: 'float32' },
  HalfStorage: { bytes: 2, dtype: 'F16', torchName: 'float16' },
  BFloat16Storage: { bytes: 2, dtype: 'BF16', torchName: 'bfloat16' },
  DoubleStorage: { bytes: 8, torchName: 'float64' },
  LongStorage: { bytes: 8, torchName: 'int64' },
  IntStorage: { bytes: 4, torchName: 'int32' },
  ShortStorage: { bytes: 2, torchName: 'int16' },
  CharStorage: { bytes: 1, torchName: 'int8' },
  ByteStorage: { bytes: 1, torchName: 'uint8' },
  BoolStorage: { bytes: 1, torchName: 'bool' },
  ComplexFloatStorage: { bytes: 8, torchName: 'complex64' },
  ComplexDoubleStorage: { bytes: 16, torchName: 'complex128' },
  UntypedStorage: { bytes: 1, torchName: 'uint8 (untyped)' },
};

/** The dtype → storage class name the writer uses. */
export const PTH_STORAGE_OF: Readonly<Record<FloatDType, string>> = { F32: 'FloatStorage', F16: 'HalfStorage', BF16: 'BFloat16Storage' };

class Storage {
  constructor(
    readonly key: string,
    readonly typeName: string,
    readonly numel: number,
    readonly entry: ZipEntry,
  ) {}
}

/** What `_rebuild_tensor_v2(...)` and friends describe; validated once its dict key is known. */
class TensorRecord {
  constructor(
    readonly args: readonly PickleValue[],
    /** byte offset of the REDUCE in data.pkl */
    readonly at: number,
    readonly via: string,
  ) {}
}

const OK_BYTEORDER = new Set(['little', 'big']);

/**
 * Read a torch.save `.pth` checkpoint: a (plain or ordered) dict of string → tensor, tensors
 * in F32, F16 or BF16. Errors are RwkvErrors naming the file and the tensor or byte offset:
 * FILE_FORMAT (damaged zip or pickle), UNSAFE_PICKLE (anything outside the allow-list),
 * UNSUPPORTED_DTYPE, UNSUPPORTED_FORMAT (compressed entries, big-endian files).
 */
export function parsePth(input: ByteSource | Uint8Array, file?: string): Checkpoint {
  const src = input instanceof Uint8Array ? new MemorySource(input, file) : input;
  const name = file ?? src.name;
  const fail = (message: string, more: { tensor?: string; expected?: string; actual?: string; hint?: string } = {}) =>
    new RwkvError('FILE_FORMAT', message, { file: name, ...more });

  const zip = readZip(src, name);
  const pkls = [...zip.entries.keys()].filter((k) => /^[^/]+\/data\.pkl$/.test(k));
  if (pkls.length === 0) {
    throw fail('zip archive has no <name>/data.pkl entry, so it is not a torch.save checkpoint', {
      expected: 'entries <name>/data.pkl and <name>/data/<n>',
      actual: [...zip.entries.keys()].slice(0, 5).join(', ') || '(no entries)',
    });
  }
  if (pkls.length > 1) throw fail('zip archive has more than one data.pkl', { expected: 'one', actual: pkls.join(', ') });
  const pklName = pkls[0]!;
  const prefix = pklName.slice(0, -'data.pkl'.length);

  const byteorder = zip.entries.get(`${prefix}byteorder`);
  if (byteorder !== undefined) {
    const text = byteorder.size <= 16 ? new TextDecoder().decode(readChecked(zip, byteorder, name)).trim() : '(too long)';
    if (!OK_BYTEORDER.has(text)) throw fail(`${byteorder.name} is not 'little' or 'big'`, { actual: JSON.stringify(text) });
    if (text === 'big') {
      throw new RwkvError('UNSUPPORTED_FORMAT', 'big-endian .pth files are not supported', {
        file: name,
        expected: 'byteorder little',
        actual: 'big',
      });
    }
  }

  const pklEntry = zip.entries.get(pklName)!;
  const pickle = readChecked(zip, pklEntry, name);

  const storages = new Map<string, Storage>();
  const resolveStorage = (pid: PickleValue, at: number): Storage => {
    const bad = (what: string, actual?: string) =>
      fail(`${pklName} byte ${at}: persistent id ${what}`, {
        expected: "('storage', torch.<T>Storage, key, location, numel)",
        ...(actual !== undefined ? { actual } : {}),
      });
    if (!(pid instanceof PickleTuple) || pid.items.length !== 5) throw bad('is not a 5-tuple');
    const [tag, type, key, location, numel] = pid.items;
    if (tag !== 'storage') throw bad(`has tag ${JSON.stringify(String(tag))}`);
    if (!(type instanceof PickleGlobal) || type.module !== 'torch' || !Object.hasOwn(TORCH_STORAGE_TYPES, type.name))
      throw bad('does not name a torch storage type');
    if (typeof key !== 'string' || typeof location !== 'string') throw bad('has a non-string key or location');
    if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) throw bad('has a bad element count', String(numel));
    const known = storages.get(key);
    if (known !== undefined) {
      if (known.typeName !== type.name || known.numel !== numel) {
        throw bad(`reuses storage '${key}' with another type or size`, `${type.name} x ${numel} after ${known.typeName} x ${known.numel}`);
      }
      return known;
    }
    const entry = zip.entries.get(`${prefix}data/${key}`);
    if (entry === undefined) throw fail(`${pklName} byte ${at}: storage '${key}' has no entry ${prefix}data/${key}`);
    const bytes = numel * TORCH_STORAGE_TYPES[type.name]!.bytes;
    if (entry.size !== bytes) {
      throw fail(`storage entry ${entry.name} has the wrong size`, {
        expected: `${bytes} bytes (${numel} x torch.${type.name})`,
        actual: `${entry.size}`,
      });
    }
    zip.dataOffset(entry); // checks the local header (and refuses compressed entries) now, not at first use
    const s = new Storage(key, type.name, numel, entry);
    storages.set(key, s);
    return s;
  };

  const record = (via: string, min: number, max: number): AllowedGlobal => ({
    call: (args, at) => {
      if (args.length < min || args.length > max) {
        throw fail(`${pklName} byte ${at}: ${via} called with ${args.length} arguments`, {
          expected: min === max ? `${min}` : `${min} to ${max}`,
        });
      }
      return new TensorRecord(args, at, via);
    },
  });
  const parameter = (via: string, min: number, max: number): AllowedGlobal => ({
    call: (args, at) => {
      if (args.length < min || args.length > max || !(args[0] instanceof TensorRecord)) {
        throw fail(`${pklName} byte ${at}: ${via} needs a tensor and ${min - 1} more arguments`);
      }
      return args[0];
    },
  });
  const orderedDict: AllowedGlobal = {
    call: (args, at) => {
      const d = new PickleDict('OrderedDict');
      if (args.length === 0) return d;
      const items = args[0];
      if (args.length === 1 && (items instanceof PickleList || items instanceof PickleTuple)) {
        for (const kv of items.items) {
          if (!(kv instanceof PickleTuple) || kv.items.length !== 2) throw fail(`${pklName} byte ${at}: OrderedDict item is not a pair`);
          d.map.set(kv.items[0]!, kv.items[1]!);
        }
        return d;
      }
      throw fail(`${pklName} byte ${at}: OrderedDict called with unexpected arguments`);
    },
    build: (obj, state, at) => {
      // OrderedDict.__reduce__ passes the instance __dict__ (a state dict's `_metadata`) as BUILD state
      if (!(obj instanceof PickleDict) || !(state instanceof PickleDict))
        throw fail(`${pklName} byte ${at}: OrderedDict state is not a dict`);
      for (const [k, v] of state.map) {
        if (typeof k !== 'string') throw fail(`${pklName} byte ${at}: OrderedDict attribute name is not a string`);
        obj.attributes.set(k, v);
      }
    },
  };
  const globals = new Map<string, AllowedGlobal>([
    ['collections.OrderedDict', orderedDict],
    ['torch._utils._rebuild_tensor_v2', record('torch._utils._rebuild_tensor_v2', 6, 7)],
    ['torch._utils._rebuild_tensor', record('torch._utils._rebuild_tensor', 4, 4)],
    ['torch._utils._rebuild_parameter', parameter('torch._utils._rebuild_parameter', 3, 3)],
    ['torch._utils._rebuild_parameter_with_state', parameter('torch._utils._rebuild_parameter_with_state', 4, 4)],
    ...Object.keys(TORCH_STORAGE_TYPES).map((t): [string, AllowedGlobal] => [`torch.${t}`, {}]),
  ]);

  const root = unpickle(pickle, { file: name, entry: pklName, globals, persistentLoad: resolveStorage });

  if (!(root instanceof PickleDict)) {
    throw fail(`${pklName} does not hold a dict of tensors`, { expected: 'dict or OrderedDict (a state dict)', actual: typeName(root) });
  }
  const out: Checkpoint = new Map();
  for (const [key, value] of root.map) {
    if (typeof key !== 'string') throw fail(`${pklName}: state dict key is not a string`, { actual: `${typeName(key)} ${String(key)}` });
    if (!(value instanceof TensorRecord)) {
      throw fail('state dict value is not a tensor; only plain state dicts (name -> tensor) are read', {
        tensor: key,
        actual: typeName(value),
        ...(value instanceof PickleDict
          ? { hint: 'the file holds a nested dict (a training checkpoint?): save its state dict alone' }
          : {}),
      });
    }
    out.set(key, buildTensor(key, value, zip, name, pklName));
  }
  return out;
}

function typeName(v: PickleValue): string {
  if (v === null) return 'None';
  if (v instanceof PickleDict) return v.className;
  if (v instanceof PickleTuple) return 'tuple';
  if (v instanceof PickleList) return 'list';
  if (v instanceof PickleGlobal) return v.qualifiedName;
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof TensorRecord) return 'tensor';
  return typeof v === 'object' ? 'object' : typeof v;
}

/** A whole small entry, its CRC-32 checked. */
function readChecked(zip: ZipArchive, entry: ZipEntry, file: string): Uint8Array {
  const bytes = zip.read(entry);
  const crc = crc32(bytes);
  if (crc !== entry.crc32) {
    throw new RwkvError('FILE_FORMAT', `zip entry ${entry.name} fails its CRC-32 check (damaged file)`, {
      file,
      expected: entry.crc32.toString(16).padStart(8, '0'),
      actual: crc.toString(16).padStart(8, '0'),
    });
  }
  return bytes;
}

function buildTensor(key: string, rec: TensorRecord, zip: ZipArchive, file: string, pklName: string) {
  const fail = (message: string, expected?: string, actual?: string) =>
    new RwkvError('FILE_FORMAT', `${message} (${rec.via} at ${pklName} byte ${rec.at})`, {
      file,
      tensor: key,
      ...(expected !== undefined ? { expected } : {}),
      ...(actual !== undefined ? { actual } : {}),
    });
  const [storage, offset, size, stride] = rec.args;
  if (!(storage instanceof Storage)) throw fail('tensor storage is not a persistent storage id', 'storage', typeName(storage ?? null));
  const ints = (v: PickleValue | undefined, what: string): number[] => {
    if (!(v instanceof PickleTuple)) throw fail(`tensor ${what} is not a tuple`, 'tuple of ints', typeName(v ?? null));
    return v.items.map((d) => {
      if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) throw fail(`tensor ${what} has a bad entry`, 'ints >= 0', String(d));
      return d;
    });
  };
  const shape = ints(size, 'size');
  const strides = ints(stride, 'stride');
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0)
    throw fail('tensor storage offset is bad', 'an int >= 0', String(offset));
  if (strides.length !== shape.length) throw fail('tensor stride and size differ in length', `${shape.length}`, `${strides.length}`);

  const type = TORCH_STORAGE_TYPES[storage.typeName]!;
  if (type.dtype === undefined) {
    throw new RwkvError('UNSUPPORTED_DTYPE', 'tensor dtype is not supported', {
      file,
      tensor: key,
      expected: 'torch.float32, torch.float16 or torch.bfloat16',
      actual: `torch.${type.torchName} (torch.${storage.typeName})`,
    });
  }
  const dtype = type.dtype;
  const eb = type.bytes;

  let n = 1;
  for (const d of shape) n *= d;
  // last element the view touches (offset when empty), checked against the storage
  let last = offset;
  if (n > 0) for (let i = 0; i < shape.length; i++) last += (shape[i]! - 1) * strides[i]!;
  if (!Number.isSafeInteger(n) || !Number.isSafeInteger(last) || (n > 0 ? last >= storage.numel : offset > storage.numel)) {
    throw fail(
      `tensor ${shapeString(shape)} (stride ${shapeString(strides)}, offset ${offset}) reaches past its storage '${storage.key}'`,
      `elements < ${storage.numel}`,
      n > 0 ? `last element ${last}` : `offset ${offset}`,
    );
  }

  let contiguous = true;
  for (let i = shape.length - 1, expect = 1; i >= 0; i--) {
    if (shape[i]! !== 1 && strides[i]! !== expect) contiguous = false;
    expect *= shape[i]!;
  }
  if (n === 0) contiguous = true;

  const entry = storage.entry;
  const span = contiguous ? n : last - offset + 1;
  const read = () => {
    if (span * eb > MAX_BUFFER_BYTES) {
      throw new RwkvError('UNSUPPORTED_FORMAT', 'tensor is too large to read into one buffer', {
        file,
        tensor: key,
        expected: `<= ${MAX_BUFFER_BYTES} bytes`,
        actual: `${span * eb}`,
      });
    }
    return zip.read(entry, offset * eb, span * eb);
  };
  if (contiguous) return lazyTensor(shape, dtype as StoredDType, () => decodeToF32(read(), 0, n, dtype), read);
  return lazyTensor(shape, dtype as StoredDType, () => gather(decodeToF32(read(), 0, span, dtype), shape, strides, n));
}

/** The largest Uint8Array the engines make (2^32 bytes in V8; Bun cannot allocate more either). */
const MAX_BUFFER_BYTES = 2 ** 32;

/** Row-major copy of the strided view of `values` (whose element 0 is the view's first element). */
function gather(values: Float32Array, shape: readonly number[], strides: readonly number[], n: number): Float32Array {
  const out = new Float32Array(n);
  const nd = shape.length;
  const idx = new Array<number>(nd).fill(0);
  let src = 0;
  for (let i = 0; i < n; i++) {
    out[i] = values[src]!;
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]!++;
      src += strides[d]!;
      if (idx[d]! < shape[d]!) break;
      src -= strides[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  return out;
}
