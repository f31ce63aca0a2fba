// A pickle reader that only builds data. It runs the pickle opcodes of protocols 0–5 that make
// plain values (None, bools, ints, floats, str, bytes, tuples, lists, dicts, sets, the memo, MARK,
// persistent ids) and nothing else. Globals (GLOBAL / STACK_GLOBAL) are looked up in an
// allow-list given by the caller; a global outside it is refused the moment it is named, before
// anything could call it. REDUCE / NEWOBJ call only allow-listed handlers (plain TypeScript
// functions that build data), BUILD (`__setstate__`) only on objects whose handler accepts it.
// INST, OBJ, the extension registry and out-of-band buffers are refused outright.
// Nothing in a pickle is ever executed: the worst a hostile pickle can do is fail to parse.
//
// Resource bounds: every opcode is consumed in time linear in its own bytes (plus the items it
// pops), every length prefix is checked against the bytes that remain before anything is
// sliced, values are shared by reference (the memo and DUP never copy), and no recursion depends
// on the input. So time and memory are linear in the pickle's size.

import { RwkvError, type RwkvErrorCode } from '../errors.ts';

/** A Python tuple. */
export class PickleTuple {
  constructor(readonly items: readonly PickleValue[]) {}
}
/** A Python list. */
export class PickleList {
  constructor(readonly items: PickleValue[] = []) {}
}
/** A Python dict (or an allow-listed dict subclass, e.g. `collections.OrderedDict`). */
export class PickleDict {
  readonly map = new Map<PickleValue, PickleValue>();
  /** Attributes set by BUILD (e.g. a state dict's `_metadata`). */
  readonly attributes = new Map<string, PickleValue>();
  constructor(readonly className = 'dict') {}
}
/** A Python set or frozenset (items in pickle order; duplicates are not merged). */
export class PickleSet {
  constructor(
    readonly items: PickleValue[] = [],
    readonly frozen = false,
  ) {}
}
/** An allow-listed global, as a value (e.g. `torch.BFloat16Storage` inside a persistent id). */
export class PickleGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/**
 * What a pickle can produce. Ints that fit a double exactly are numbers, larger ones bigints;
 * `bytes`/`bytearray` are Uint8Arrays (views into the pickle); handlers may return their own objects.
 */
export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleTuple
  | PickleList
  | PickleDict
  | PickleSet
  | PickleGlobal
  | object;

/** What an allow-listed global may do. A global without `call` can only be passed around as a value. */
export interface AllowedGlobal {
  /** REDUCE (`f(*args)`) and, unless `newObject` is given, NEWOBJ (`cls.__new__(cls, *args)`). */
  call?: (args: readonly PickleValue[], at: number) => PickleValue;
  /** NEWOBJ / NEWOBJ_EX, when it differs from `call`. */
  newObject?: (args: readonly PickleValue[], at: number) => PickleValue;
  /** BUILD on an object this global made: apply `state` to it (the handler decides what is allowed). */
  build?: (obj: PickleValue, state: PickleValue, at: number) => void;
}

export interface UnpickleOptions {
  /** The file the pickle came from (for messages). */
  file: string;
  /** Where inside the file (e.g. the zip entry `archive/data.pkl`). */
  entry?: string;
  /** Allowed globals by qualified name, `module.name`. */
  globals: ReadonlyMap<string, AllowedGlobal>;
  /** Resolve a persistent id (PERSID / BINPERSID); without one, persistent ids are an error. */
  persistentLoad?: (pid: PickleValue, at: number) => PickleValue;
}

/** Pickle opcodes refused as unsafe (they construct or look up arbitrary objects). */
const UNSAFE_OPCODES: Readonly<Record<number, string>> = {
  0x69: 'INST (instantiates a class named in the pickle)',
  0x6f: 'OBJ (instantiates a class from the stack)',
  0x82: 'EXT1 (extension registry lookup)',
  0x83: 'EXT2 (extension registry lookup)',
  0x84: 'EXT4 (extension registry lookup)',
};

/** Python's own cap on decimal digits in int() (sys.int_info.default_max_str_digits). */
const MAX_DECIMAL_DIGITS = 4300;
const MAX_PROTOCOL = 5;

const MARK = Symbol('mark');
type StackItem = PickleValue | typeof MARK;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function describe(v: StackItem): string {
  if (v === MARK) return 'MARK';
  if (v === null) return 'None';
  if (typeof v === 'string') return 'str';
  if (typeof v === 'number' || typeof v === 'bigint') return Number.isInteger(v) || typeof v === 'bigint' ? 'int' : 'float';
  if (typeof v === 'boolean') return 'bool';
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof PickleTuple) return 'tuple';
  if (v instanceof PickleList) return 'list';
  if (v instanceof PickleDict) return v.className;
  if (v instanceof PickleSet) return v.frozen ? 'frozenset' : 'set';
  if (v instanceof PickleGlobal) return v.qualifiedName;
  return 'object';
}

/**
 * Unpickle `data` (a whole pickle, ending with STOP) using only the allow-list in `options`.
 * Errors: UNSAFE_PICKLE (a global, opcode or call outside the allow-list: nothing was run),
 * FILE_FORMAT (malformed or truncated pickle). Each names the file, the entry and the byte offset.
 */
export function unpickle(data: Uint8Array, options: UnpickleOptions): PickleValue {
  const where = options.entry ?? 'pickle';
  const err = (code: RwkvErrorCode, at: number, message: string, expected?: string, actual?: string): RwkvError =>
    new RwkvError(code, `${where} byte ${at}: ${message}`, {
      file: options.file,
      ...(expected !== undefined ? { expected } : {}),
      ...(actual !== undefined ? { actual } : {}),
    });
  const bad = (at: number, message: string, expected?: string, actual?: string) => err('FILE_FORMAT', at, message, expected, actual);
  const unsafe = (at: number, message: string, expected?: string, actual?: string) => err('UNSAFE_PICKLE', at, message, expected, actual);

  const stack: StackItem[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PickleValue>();
  /** objects made by an allow-listed global, for BUILD */
  const madeBy = new WeakMap<object, { global: PickleGlobal; handler: AllowedGlobal }>();
  const n = data.length;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let pos = 0;
  let op = 0; // offset of the current opcode

  const need = (k: number, what: string): void => {
    if (k > n - pos) throw bad(op, `truncated ${what}`, `${k} bytes`, `${n - pos} left`);
  };
  const take = (k: number, what: string): Uint8Array => {
    need(k, what);
    const out = data.subarray(pos, pos + k);
    pos += k;
    return out;
  };
  const u8 = (what: string) => {
    need(1, what);
    return data[pos++]!;
  };
  const u16 = (what: string) => {
    need(2, what);
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (what: string) => {
    need(4, what);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const i32 = (what: string) => {
    need(4, what);
    const v = view.getInt32(pos, true);
    pos += 4;
    return v;
  };
  /** an 8-byte length; it must fit in the remaining bytes, so it is always a safe integer when accepted */
  const u64len = (what: string) => {
    need(8, what);
    const lo = view.getUint32(pos, true);
    const hi = view.getUint32(pos + 4, true);
    pos += 8;
    if (hi !== 0 || lo > n - pos) throw bad(op, `${what} runs past the end of the pickle`, `<= ${n - pos}`, `${hi * 2 ** 32 + lo}`);
    return lo;
  };
  /** a text line ending in '\n' (protocol 0 arguments) */
  const line = (what: string): string => {
    const end = data.indexOf(0x0a, pos);
    if (end < 0) throw bad(op, `truncated ${what} (no newline)`);
    let s = '';
    for (let i = pos; i < end; i++) s += String.fromCharCode(data[i]!);
    pos = end + 1;
    return s;
  };

  const push = (v: PickleValue) => stack.push(v);
  const pop = (what: string): PickleValue => {
    const floor = marks.length > 0 ? marks[marks.length - 1]! : 0;
    if (stack.length <= floor) throw bad(op, `stack underflow (${what})`);
    return stack.pop() as PickleValue;
  };
  const top = (what: string): PickleValue => {
    const floor = marks.length > 0 ? marks[marks.length - 1]! : 0;
    if (stack.length <= floor) throw bad(op, `stack underflow (${what})`);
    return stack[stack.length - 1] as PickleValue;
  };
  /** the items pushed since the last MARK (the MARK is removed) */
  const popMark = (what: string): PickleValue[] => {
    const m = marks.pop();
    if (m === undefined) throw bad(op, `${what} without a MARK`);
    const items = stack.splice(m) as PickleValue[];
    return items;
  };
  const memoGet = (key: number) => {
    const v = memo.get(key);
    if (v === undefined) throw bad(op, `memo key ${key} was never stored`);
    return v;
  };
  const memoPut = (key: number) => {
    memo.set(key, top('memo put'));
  };
  const str = (bytes: Uint8Array, what: string): string => {
    try {
      return utf8.decode(bytes);
    } catch {
      throw bad(op, `${what} is not valid UTF-8`);
    }
  };
  const latin1 = (bytes: Uint8Array): string => {
    let s = '';
    for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
    return s;
  };
  /** two's complement little-endian → number (when exact) or bigint */
  const longFromBytes = (bytes: Uint8Array): number | bigint => {
    if (bytes.length === 0) return 0;
    let hex = '';
    for (let i = bytes.length - 1; i >= 0; i--) hex += bytes[i]!.toString(16).padStart(2, '0');
    let v = BigInt(`0x${hex}`);
    if (bytes[bytes.length - 1]! & 0x80) v -= 1n << BigInt(bytes.length * 8);
    return intValue(v);
  };
  const intValue = (v: bigint): number | bigint =>
    v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  const decimal = (text: string, what: string): number | bigint => {
    const t = text.endsWith('L') ? text.slice(0, -1) : text;
    if (!/^[+-]?\d+$/.test(t)) throw bad(op, `${what} is not an integer`, 'decimal digits', JSON.stringify(text.slice(0, 40)));
    if (t.replace(/^[+-]/, '').length > MAX_DECIMAL_DIGITS) throw bad(op, `${what} has more than ${MAX_DECIMAL_DIGITS} digits`);
    return intValue(BigInt(t));
  };
  const hashable = (k: PickleValue, what: string): PickleValue => {
    if (k instanceof PickleList || k instanceof PickleDict || (k instanceof PickleSet && !k.frozen)) {
      throw bad(op, `unhashable ${describe(k)} used as a ${what}`);
    }
    return k;
  };
  const setItems = (target: PickleValue, items: readonly PickleValue[]): void => {
    if (!(target instanceof PickleDict)) throw bad(op, 'SETITEM(S) on something that is not a dict', 'dict', describe(target));
    if (items.length % 2 !== 0) throw bad(op, 'SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) target.map.set(hashable(items[i]!, 'dict key'), items[i + 1]!);
  };
  const appendItems = (target: PickleValue, items: readonly PickleValue[]): void => {
    if (target instanceof PickleList) for (const it of items) target.items.push(it);
    else throw bad(op, 'APPEND(S) on something that is not a list', 'list', describe(target));
  };
  const findGlobal = (module: string, name: string): PickleValue => {
    const qualified = `${module}.${name}`;
    if (!options.globals.has(qualified)) {
      throw unsafe(
        op,
        `global '${qualified}' is not on the allow-list; refused without running anything`,
        `one of ${[...options.globals.keys()].slice(0, 6).join(', ')}, …`,
        qualified,
      );
    }
    return new PickleGlobal(module, name);
  };
  const handlerOf = (callable: PickleValue, what: string): { global: PickleGlobal; handler: AllowedGlobal } => {
    if (!(callable instanceof PickleGlobal)) throw unsafe(op, `${what} on a ${describe(callable)}, which is not an allow-listed global`);
    const handler = options.globals.get(callable.qualifiedName);
    if (handler === undefined) throw unsafe(op, `${what} on '${callable.qualifiedName}', which is not on the allow-list`);
    return { global: callable, handler };
  };
  const callGlobal = (callable: PickleValue, args: PickleValue, kind: 'REDUCE' | 'NEWOBJ'): PickleValue => {
    const { global, handler } = handlerOf(callable, kind);
    const fn = kind === 'NEWOBJ' ? (handler.newObject ?? handler.call) : handler.call;
    if (fn === undefined) throw unsafe(op, `${kind} on '${global.qualifiedName}', which may not be called`);
    if (!(args instanceof PickleTuple)) throw bad(op, `${kind} arguments are not a tuple`, 'tuple', describe(args));
    const out = fn(args.items, op);
    if (out !== null && typeof out === 'object') madeBy.set(out, { global, handler });
    return out;
  };

  for (;;) {
    if (pos >= n) throw bad(pos, 'pickle ends without STOP (truncated)');
    op = pos;
    const code = data[pos++]!;
    switch (code) {
      // ---- framing and protocol ----
      case 0x80: {
        const proto = u8('PROTO');
        if (proto > MAX_PROTOCOL) throw bad(op, 'unsupported pickle protocol', `<= ${MAX_PROTOCOL}`, `${proto}`);
        break;
      }
      case 0x95: // FRAME: a length hint; the bytes follow inline
        u64len('FRAME');
        break;
      case 0x2e: {
        // STOP
        const result = pop('STOP');
        if (stack.length !== 0 || marks.length !== 0) throw bad(op, 'STOP with items left on the stack');
        return result;
      }
      // ---- stack ----
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        if (marks.length > 0 && stack.length === marks[marks.length - 1])
          marks.pop(); // POP of a MARK
        else pop('POP');
        break;
      case 0x31: // POP_MARK
        popMark('POP_MARK');
        break;
      case 0x32: // DUP
        push(top('DUP'));
        break;
      // ---- constants ----
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      // ---- ints ----
      case 0x4b: // BININT1
        push(u8('BININT1'));
        break;
      case 0x4d: // BININT2
        push(u16('BININT2'));
        break;
      case 0x4a: // BININT
        push(i32('BININT'));
        break;
      case 0x8a: {
        // LONG1
        const k = u8('LONG1 length');
        push(longFromBytes(take(k, 'LONG1')));
        break;
      }
      case 0x8b: {
        // LONG4
        const k = i32('LONG4 length');
        if (k < 0) throw bad(op, 'LONG4 with a negative length', '>= 0', `${k}`);
        push(longFromBytes(take(k, 'LONG4')));
        break;
      }
      case 0x49: {
        // INT (text); "00"/"01" are protocol 0's False/True
        const t = line('INT');
        if (t === '00') push(false);
        else if (t === '01') push(true);
        else push(decimal(t, 'INT'));
        break;
      }
      case 0x4c: // LONG (text)
        push(decimal(line('LONG'), 'LONG'));
        break;
      // ---- floats ----
      case 0x47: // BINFLOAT (big-endian double)
        need(8, 'BINFLOAT');
        push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x46: {
        // FLOAT (text)
        const t = line('FLOAT').trim();
        if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(inf|nan)$/i.test(t))
          throw bad(op, 'FLOAT is not a number', 'a decimal float', JSON.stringify(t.slice(0, 40)));
        push(/inf/i.test(t) ? (t.startsWith('-') ? -Infinity : Infinity) : /nan/i.test(t) ? NaN : Number(t));
        break;
      }
      // ---- strings ----
      case 0x58: // BINUNICODE
        push(str(take(u32('BINUNICODE length'), 'BINUNICODE'), 'BINUNICODE'));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(str(take(u8('SHORT_BINUNICODE length'), 'SHORT_BINUNICODE'), 'SHORT_BINUNICODE'));
        break;
      case 0x8d: // BINUNICODE8
        push(str(take(u64len('BINUNICODE8 length'), 'BINUNICODE8'), 'BINUNICODE8'));
        break;
      case 0x54: {
        // BINSTRING (Python 2 str; decoded as latin-1, as a byte-preserving choice)
        const k = i32('BINSTRING length');
        if (k < 0) throw bad(op, 'BINSTRING with a negative length', '>= 0', `${k}`);
        push(latin1(take(k, 'BINSTRING')));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        push(latin1(take(u8('SHORT_BINSTRING length'), 'SHORT_BINSTRING')));
        break;
      case 0x56: // UNICODE (text, raw-unicode-escape)
        push(rawUnicodeEscape(line('UNICODE'), op, bad));
        break;
      case 0x53: // STRING (text, a quoted Python 2 str literal)
        push(pythonStringLiteral(line('STRING'), op, bad));
        break;
      // ---- bytes ----
      case 0x42: // BINBYTES
        push(take(u32('BINBYTES length'), 'BINBYTES'));
        break;
      case 0x43: // SHORT_BINBYTES
        push(take(u8('SHORT_BINBYTES length'), 'SHORT_BINBYTES'));
        break;
      case 0x8e: // BINBYTES8
        push(take(u64len('BINBYTES8 length'), 'BINBYTES8'));
        break;
      case 0x96: // BYTEARRAY8
        push(take(u64len('BYTEARRAY8 length'), 'BYTEARRAY8').slice());
        break;
      case 0x97: // NEXT_BUFFER
      case 0x98: // READONLY_BUFFER
        throw new RwkvError('UNSUPPORTED_FORMAT', `${where} byte ${op}: out-of-band pickle buffers are not supported`, {
          file: options.file,
        });
      // ---- tuples ----
      case 0x29: // EMPTY_TUPLE
        push(new PickleTuple([]));
        break;
      case 0x74: // TUPLE
        push(new PickleTuple(popMark('TUPLE')));
        break;
      case 0x85: // TUPLE1
        push(new PickleTuple([pop('TUPLE1')]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop('TUPLE2');
        const a = pop('TUPLE2');
        push(new PickleTuple([a, b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop('TUPLE3');
        const b = pop('TUPLE3');
        const a = pop('TUPLE3');
        push(new PickleTuple([a, b, c]));
        break;
      }
      // ---- lists ----
      case 0x5d: // EMPTY_LIST
        push(new PickleList());
        break;
      case 0x6c: // LIST
        push(new PickleList(popMark('LIST')));
        break;
      case 0x61: {
        // APPEND
        const v = pop('APPEND');
        appendItems(top('APPEND'), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark('APPENDS');
        appendItems(top('APPENDS'), items);
        break;
      }
      // ---- dicts ----
      case 0x7d: // EMPTY_DICT
        push(new PickleDict());
        break;
      case 0x64: {
        // DICT
        const d = new PickleDict();
        setItems(d, popMark('DICT'));
        push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop('SETITEM');
        const k = pop('SETITEM');
        setItems(top('SETITEM'), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark('SETITEMS');
        setItems(top('SETITEMS'), items);
        break;
      }
      // ---- sets ----
      case 0x8f: // EMPTY_SET
        push(new PickleSet());
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark('ADDITEMS');
        const s = top('ADDITEMS');
        if (!(s instanceof PickleSet) || s.frozen) throw bad(op, 'ADDITEMS on something that is not a set', 'set', describe(s));
        for (const it of items) s.items.push(hashable(it, 'set item'));
        break;
      }
      case 0x91: // FROZENSET
        push(
          new PickleSet(
            popMark('FROZENSET').map((it) => hashable(it, 'set item')),
            true,
          ),
        );
        break;
      // ---- memo ----
      case 0x71: // BINPUT
        memoPut(u8('BINPUT'));
        break;
      case 0x72: // LONG_BINPUT
        memoPut(u32('LONG_BINPUT'));
        break;
      case 0x70: // PUT (text)
        memoPut(Number(decimal(line('PUT'), 'PUT')));
        break;
      case 0x94: // MEMOIZE
        memoPut(memo.size);
        break;
      case 0x68: // BINGET
        push(memoGet(u8('BINGET')));
        break;
      case 0x6a: // LONG_BINGET
        push(memoGet(u32('LONG_BINGET')));
        break;
      case 0x67: // GET (text)
        push(memoGet(Number(decimal(line('GET'), 'GET'))));
        break;
      // ---- globals and calls (allow-list only) ----
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line('GLOBAL module');
        const name = line('GLOBAL name');
        push(findGlobal(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop('STACK_GLOBAL');
        const module = pop('STACK_GLOBAL');
        if (typeof module !== 'string' || typeof name !== 'string') {
          throw bad(op, 'STACK_GLOBAL needs two strings', 'str, str', `${describe(module)}, ${describe(name)}`);
        }
        push(findGlobal(module, name));
        break;
      }
      case 0x52: {
        // REDUCE: callable(*args)
        const args = pop('REDUCE');
        const callable = pop('REDUCE');
        push(callGlobal(callable, args, 'REDUCE'));
        break;
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args)
        const args = pop('NEWOBJ');
        const cls = pop('NEWOBJ');
        push(callGlobal(cls, args, 'NEWOBJ'));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX: cls.__new__(cls, *args, **kwargs); keyword arguments are not supported
        const kwargs = pop('NEWOBJ_EX');
        const args = pop('NEWOBJ_EX');
        const cls = pop('NEWOBJ_EX');
        handlerOf(cls, 'NEWOBJ_EX');
        if (!(kwargs instanceof PickleDict) || kwargs.map.size !== 0) throw unsafe(op, 'NEWOBJ_EX with keyword arguments is not allowed');
        push(callGlobal(cls, args, 'NEWOBJ'));
        break;
      }
      case 0x62: {
        // BUILD: obj.__setstate__(state), or obj.__dict__.update(state)
        const state = pop('BUILD');
        const obj = top('BUILD');
        const made = obj !== null && typeof obj === 'object' ? madeBy.get(obj) : undefined;
        if (made === undefined) throw unsafe(op, `BUILD (__setstate__) on a ${describe(obj)}, which no allow-listed global made`);
        if (made.handler.build === undefined)
          throw unsafe(op, `BUILD (__setstate__) on an object made by '${made.global.qualifiedName}', which does not accept it`);
        made.handler.build(obj, state, op);
        break;
      }
      // ---- persistent ids ----
      case 0x51: // BINPERSID
      case 0x50: {
        // PERSID (text)
        const pid: PickleValue = code === 0x51 ? pop('BINPERSID') : line('PERSID');
        if (options.persistentLoad === undefined) throw bad(op, 'persistent id in a pickle that may not have one');
        push(options.persistentLoad(pid, op));
        break;
      }
      default: {
        const why = UNSAFE_OPCODES[code];
        if (why !== undefined) throw unsafe(op, `opcode ${why} is not allowed`);
        throw bad(op, `unknown pickle opcode 0x${code.toString(16).padStart(2, '0')}`);
      }
    }
  }
}

type Bad = (at: number, message: string, expected?: string, actual?: string) => RwkvError;

/** Python's raw-unicode-escape: only \uXXXX and \UXXXXXXXX are escapes; other chars are latin-1. */
function rawUnicodeEscape(s: string, at: number, bad: Bad): string {
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, a: string | undefined, b: string | undefined) => {
    const cp = parseInt(a ?? b!, 16);
    if (cp > 0x10ffff) throw bad(at, 'UNICODE escape is out of range', '<= U+10FFFF', `U+${cp.toString(16)}`);
    return String.fromCodePoint(cp);
  });
}

/** A protocol-0 STRING argument: a quoted Python 2 literal with the usual backslash escapes. */
function pythonStringLiteral(s: string, at: number, bad: Bad): string {
  const q = s[0];
  if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) throw bad(at, 'STRING argument is not quoted');
  const body = s.slice(1, -1);
  const simple: Record<string, string> = {
    '\\': '\\',
    "'": "'",
    '"': '"',
    n: '\n',
    r: '\r',
    t: '\t',
    a: '\x07',
    b: '\b',
    f: '\f',
    v: '\v',
    '\n': '',
  };
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = body[++i];
    if (e === undefined) throw bad(at, 'STRING ends with a backslash');
    if (e in simple) out += simple[e];
    else if (e === 'x') {
      const h = body.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(h)) throw bad(at, 'STRING has a bad \\x escape');
      out += String.fromCharCode(parseInt(h, 16));
      i += 2;
    } else if (e >= '0' && e <= '7') {
      let o = e;
      while (o.length < 3 && body[i + 1] !== undefined && body[i + 1]! >= '0' && body[i + 1]! <= '7') o += body[++i];
      out += String.fromCharCode(parseInt(o, 8) & 0xff);
    } else out += `\\${e}`;
  }
  return out;
}
