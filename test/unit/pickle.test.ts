// The allow-list pickle VM (src/io/pickle.ts): pickles made by CPython 3.11's own pickler for
// protocols 0–5 decode to the right values; hand-assembled pickles cover each opcode; anything
// that would look up or call code outside the allow-list is refused with UNSAFE_PICKLE, naming
// the global and the byte offset; malformed pickles are FILE_FORMAT errors.

import { describe, expect, it } from 'vitest';
import { RwkvError } from '../../src/errors.ts';
import {
  type AllowedGlobal,
  PickleDict,
  PickleGlobal,
  PickleList,
  PickleSet,
  PickleTuple,
  type PickleValue,
  unpickle,
} from '../../src/io/pickle.ts';

// ---- a small pickle assembler: numbers are opcode/raw bytes, the helpers encode arguments ----
const enc = new TextEncoder();
const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const le = (v: number, k: number) => Uint8Array.from({ length: k }, (_, i) => Math.floor(v / 2 ** (8 * i)) & 0xff);
/** BINUNICODE */
const S = (s: string) => {
  const b = enc.encode(s);
  return [0x58, ...le(b.length, 4), ...b];
};
/** GLOBAL module name */
const G = (module: string, name: string) => [0x63, ...latin1(`${module}\n${name}\n`)];
/** BININT */
const I = (v: number) => [0x4a, ...le(v >>> 0, 4)];
function pk(...parts: (number | number[] | Uint8Array)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else out.push(...p);
  }
  return Uint8Array.from(out);
}
const hex = (h: string) => Uint8Array.from(h.match(/../g)!.map((x) => parseInt(x, 16)));

const NO_GLOBALS = new Map<string, AllowedGlobal>();
const load = (
  bytes: Uint8Array,
  globals: ReadonlyMap<string, AllowedGlobal> = NO_GLOBALS,
  persistentLoad?: (pid: PickleValue) => PickleValue,
) => unpickle(bytes, { file: 'test.pth', entry: 'archive/data.pkl', globals, ...(persistentLoad ? { persistentLoad } : {}) });

/** The error `f` throws (it must throw an RwkvError). */
function errorOf(f: () => unknown): RwkvError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(RwkvError);
    return e as RwkvError;
  }
  throw new Error('expected an RwkvError, but nothing was thrown');
}

/** Pickle values → plain JS for comparisons: tuples as {t: [...]}, dicts as Maps, sets as {set: [...]} */
function js(v: PickleValue): unknown {
  if (v instanceof PickleTuple) return { t: v.items.map(js) };
  if (v instanceof PickleList) return v.items.map(js);
  if (v instanceof PickleDict) return new Map([...v.map].map(([k, x]) => [js(k), js(x)]));
  if (v instanceof PickleSet) return { set: v.items.map(js), frozen: v.frozen };
  if (v instanceof Uint8Array) return { bytes: [...v] };
  return v;
}

// ---- pickles written by CPython 3.11 (pickle.dumps(obj, protocol=p)) of:
//   shared = [7]
//   obj = {'ints': [0, 1, -1, 255, 256, 65535, 65536, -2**31, 2**31, 2**53, 2**63, -2**70],
//          'floats': [0.5, -1e300, float('inf'), 1/3],
//          'str': ['', 'abc', 'ünï 日本 🙂', 'a\nb\\c\'"'],
//          'tuple': (1, (2, 3), (), (4, 5, 6, 7)),
//          'none': None, 'bools': [True, False],
//          'nested': {'k': [1, {'x': (None,)}], 5: 'int key'},
//          'shared': (shared, shared)}
const CPYTHON: Record<number, string> = {
  0:
    '286470300a56696e74730a70310a286c70320a49300a6149310a61492d310a61493235350a61493235360a614936353533350a614936353533360a61' +
    '492d323134373438333634380a614c323134373438333634384c0a614c393030373139393235343734303939324c0a614c3932323333373230333638' +
    '35343737353830384c0a614c2d313138303539313632303731373431313330333432344c0a617356666c6f6174730a70330a286c70340a46302e350a' +
    '61462d31652b3330300a6146696e660a6146302e333333333333333333333333333333330a6173567374720a70350a286c70360a560a70370a615661' +
    '62630a70380a6156fc6eef205c75363565355c7536373263205c5530303031663634320a70390a6156615c7530303061625c75303035636327220a70' +
    '31300a6173567475706c650a7031310a2849310a2849320a49330a747031320a28742849340a49350a49360a49370a747031330a747031340a73566e' +
    '6f6e650a7031350a4e7356626f6f6c730a7031360a286c7031370a4930310a614930300a6173566e65737465640a7031380a28647031390a566b0a70' +
    '32300a286c7032310a49310a6128647032320a56780a7032330a284e747032340a73617349350a56696e74206b65790a7032350a7373567368617265' +
    '640a7032360a28286c7032370a49370a616732370a747032380a732e',
  1:
    '7d7100285804000000696e747371015d7102284b004b014affffffff4bff4d00014dffff4a000001004a000000804c323134373438333634384c0a4c' +
    '393030373139393235343734303939324c0a4c393232333337323033363835343737353830384c0a4c2d313138303539313632303731373431313330' +
    '333432344c0a655806000000666c6f61747371035d710428473fe000000000000047fe37e43c8800759c477ff0000000000000473fd5555555555555' +
    '65580300000073747271055d71062858000000007107580300000061626371085811000000c3bc6ec3af20e697a5e69cac20f09f9982710958070000' +
    '00610a625c632722710a6558050000007475706c65710b284b01284b024b0374710c29284b044b054b064b0774710d74710e58040000006e6f6e6571' +
    '0f4e5805000000626f6f6c7371105d7111284930310a4930300a6558060000006e657374656471127d71132858010000006b71145d7115284b017d71' +
    '165801000000787117284e74711873654b055807000000696e74206b65797119755806000000736861726564711a285d711b4b0761681b74711c752e',
  2:
    '80027d7100285804000000696e747371015d7102284b004b014affffffff4bff4d00014dffff4a000001004a000000808a0500000080008a07000000' +
    '000000208a090000000000000080008a090000000000000000c0655806000000666c6f61747371035d710428473fe000000000000047fe37e43c8800' +
    '759c477ff0000000000000473fd555555555555565580300000073747271055d71062858000000007107580300000061626371085811000000c3bc6e' +
    'c3af20e697a5e69cac20f09f998271095807000000610a625c632722710a6558050000007475706c65710b284b014b024b0386710c29284b044b054b' +
    '064b0774710d74710e58040000006e6f6e65710f4e5805000000626f6f6c7371105d71112888896558060000006e657374656471127d711328580100' +
    '00006b71145d7115284b017d711658010000007871174e85711873654b055807000000696e74206b65797119755806000000736861726564711a5d71' +
    '1b4b0761681b86711c752e',
  3:
    '80037d7100285804000000696e747371015d7102284b004b014affffffff4bff4d00014dffff4a000001004a000000808a0500000080008a07000000' +
    '000000208a090000000000000080008a090000000000000000c0655806000000666c6f61747371035d710428473fe000000000000047fe37e43c8800' +
    '759c477ff0000000000000473fd555555555555565580300000073747271055d71062858000000007107580300000061626371085811000000c3bc6e' +
    'c3af20e697a5e69cac20f09f998271095807000000610a625c632722710a6558050000007475706c65710b284b014b024b0386710c29284b044b054b' +
    '064b0774710d74710e58040000006e6f6e65710f4e5805000000626f6f6c7371105d71112888896558060000006e657374656471127d711328580100' +
    '00006b71145d7115284b017d711658010000007871174e85711873654b055807000000696e74206b65797119755806000000736861726564711a5d71' +
    '1b4b0761681b86711c752e',
  4:
    '80049527010000000000007d94288c04696e7473945d94284b004b014affffffff4bff4d00014dffff4a000001004a000000808a0500000080008a07' +
    '000000000000208a090000000000000080008a090000000000000000c0658c06666c6f617473945d9428473fe000000000000047fe37e43c8800759c' +
    '477ff0000000000000473fd5555555555555658c03737472945d94288c00948c03616263948c11c3bc6ec3af20e697a5e69cac20f09f9982948c0761' +
    '0a625c63272294658c057475706c6594284b014b024b03869429284b044b054b064b07749474948c046e6f6e65944e8c05626f6f6c73945d94288889' +
    '658c066e6573746564947d94288c016b945d94284b017d948c0178944e859473654b058c07696e74206b657994758c06736861726564945d944b0761' +
    '681b8694752e',
  5:
    '80059527010000000000007d94288c04696e7473945d94284b004b014affffffff4bff4d00014dffff4a000001004a000000808a0500000080008a07' +
    '000000000000208a090000000000000080008a090000000000000000c0658c06666c6f617473945d9428473fe000000000000047fe37e43c8800759c' +
    '477ff0000000000000473fd5555555555555658c03737472945d94288c00948c03616263948c11c3bc6ec3af20e697a5e69cac20f09f9982948c0761' +
    '0a625c63272294658c057475706c6594284b014b024b03869429284b044b054b064b07749474948c046e6f6e65944e8c05626f6f6c73945d94288889' +
    '658c066e6573746564947d94288c016b945d94284b017d948c0178944e859473654b058c07696e74206b657994758c06736861726564945d944b0761' +
    '681b8694752e',
};

const t = (...items: unknown[]) => ({ t: items });
const EXPECTED = new Map<unknown, unknown>([
  ['ints', [0, 1, -1, 255, 256, 65535, 65536, -(2 ** 31), 2 ** 31, 2n ** 53n, 2n ** 63n, -(2n ** 70n)]],
  ['floats', [0.5, -1e300, Infinity, 1 / 3]],
  ['str', ['', 'abc', 'ünï 日本 🙂', 'a\nb\\c\'"']],
  ['tuple', t(1, t(2, 3), t(), t(4, 5, 6, 7))],
  ['none', null],
  ['bools', [true, false]],
  [
    'nested',
    new Map<unknown, unknown>([
      ['k', [1, new Map([['x', t(null)]])]],
      [5, 'int key'],
    ]),
  ],
  ['shared', t([7], [7])],
]);

describe('pickle VM: values', () => {
  for (const [proto, h] of Object.entries(CPYTHON)) {
    it(`decodes CPython's protocol ${proto} pickle of a nested structure`, () => {
      const v = load(hex(h));
      expect(js(v)).toEqual(EXPECTED);
      // the memo shares objects as Python does: both items of 'shared' are the same list
      const shared = (v as PickleDict).map.get('shared') as PickleTuple;
      expect(shared.items[0]).toBe(shared.items[1]);
    });
  }

  it("decodes CPython's protocol 5 bytes, bytearray, set and frozenset", () => {
    // pickle.dumps({'b': b'\x00\xffab', 'ba': bytearray(b'xy'), 's': {1, 2}, 'fs': frozenset({3})}, protocol=5)
    const v = load(
      hex(
        '80059537000000000000007d94288c016294430400ff6162948c026261949602000000000000007879948c0173948f94284b014b02908c02667394284b039194752e',
      ),
    );
    expect(js(v)).toEqual(
      new Map<unknown, unknown>([
        ['b', { bytes: [0, 255, 0x61, 0x62] }],
        ['ba', { bytes: [0x78, 0x79] }],
        ['s', { set: [1, 2], frozen: false }],
        ['fs', { set: [3], frozen: true }],
      ]),
    );
  });

  it('decodes every int, float and string encoding', () => {
    const cases: [Uint8Array, unknown][] = [
      [pk(0x4b, 200, 0x2e), 200], // BININT1
      [pk(0x4d, 0x34, 0x12, 0x2e), 0x1234], // BININT2
      [pk(I(-5), 0x2e), -5], // BININT
      [pk(0x8a, 0, 0x2e), 0], // LONG1, empty = 0
      [pk(0x8a, 2, 0xff, 0x7f, 0x2e), 0x7fff],
      [pk(0x8a, 1, 0xff, 0x2e), -1],
      [pk(0x8a, 8, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x2e), -(2n ** 63n)],
      [pk(0x8b, ...le(9, 4), 1, 0, 0, 0, 0, 0, 0, 0, 1, 0x2e), 2n ** 64n + 1n], // LONG4
      [pk(latin1('I-42\n'), 0x2e), -42], // INT
      [pk(latin1('I01\n'), 0x2e), true],
      [pk(latin1('I00\n'), 0x2e), false],
      [pk(latin1('L123456789012345678901234567890L\n'), 0x2e), 123456789012345678901234567890n], // LONG
      [pk(0x47, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18, 0x2e), Math.PI], // BINFLOAT (big-endian)
      [pk(latin1('F-2.5e-3\n'), 0x2e), -2.5e-3], // FLOAT
      [pk(latin1('Fnan\n'), 0x2e), NaN],
      [pk(S('κλειδί'), 0x2e), 'κλειδί'], // BINUNICODE
      [pk(0x8c, 2, 0x68, 0x69, 0x2e), 'hi'], // SHORT_BINUNICODE
      [pk(0x8d, ...le(1, 8), 0x7a, 0x2e), 'z'], // BINUNICODE8
      [pk(0x55, 2, 0xe9, 0x41, 0x2e), 'éA'], // SHORT_BINSTRING (latin-1)
      [pk(0x54, ...le(1, 4), 0x41, 0x2e), 'A'], // BINSTRING
      [pk(latin1("S'a\\nb\\x41\\101\\''\n"), 0x2e), "a\nbAA'"], // STRING (Python 2 literal)
      [pk(latin1('Vx\\u00e9\\U0001f642\n'), 0x2e), 'xé🙂'], // UNICODE (raw-unicode-escape)
      [pk(0x42, ...le(2, 4), 1, 2, 0x2e), { bytes: [1, 2] }], // BINBYTES
      [pk(0x43, 1, 9, 0x2e), { bytes: [9] }], // SHORT_BINBYTES
      [pk(0x8e, ...le(1, 8), 7, 0x2e), { bytes: [7] }], // BINBYTES8
      [pk(0x4e, 0x2e), null],
      [pk(0x88, 0x2e), true],
      [pk(0x89, 0x2e), false],
    ];
    for (const [bytes, want] of cases) expect(js(load(bytes)), [...bytes].map((b) => b.toString(16)).join(' ')).toEqual(want);
  });

  it('builds containers with MARK, the memo, DUP and POP', () => {
    // [1, 2, 3] via EMPTY_LIST, BINPUT, APPEND, MARK ... APPENDS
    expect(js(load(pk(0x5d, 0x71, 0, 0x4b, 1, 0x61, 0x28, 0x4b, 2, 0x4b, 3, 0x65, 0x2e)))).toEqual([1, 2, 3]);
    // LIST, TUPLE (MARK), TUPLE1..3, EMPTY_TUPLE
    expect(js(load(pk(0x28, 0x4b, 1, 0x29, 0x4b, 2, 0x85, 0x4b, 3, 0x4b, 4, 0x86, 0x4b, 5, 0x4b, 6, 0x4b, 7, 0x87, 0x6c, 0x2e)))).toEqual([
      1,
      t(),
      t(2),
      t(3, 4),
      t(5, 6, 7),
    ]);
    // DICT with MARK, SETITEM, SETITEMS; a tuple key
    expect(js(load(pk(0x28, S('a'), 0x4b, 1, 0x64, S('b'), 0x4b, 2, 0x73, 0x28, 0x4b, 9, 0x4b, 8, 0x86, 0x4e, 0x75, 0x2e)))).toEqual(
      new Map<unknown, unknown>([
        ['a', 1],
        ['b', 2],
        [t(9, 8), null],
      ]),
    );
    // LONG_BINPUT / LONG_BINGET, PUT / GET (text), MEMOIZE / BINGET, DUP, POP, POP_MARK
    expect(js(load(pk(0x4b, 5, 0x72, ...le(70000, 4), 0x30, 0x6a, ...le(70000, 4), 0x2e)))).toEqual(5);
    expect(js(load(pk(0x4b, 6, latin1('p3\n'), 0x30, latin1('g3\n'), 0x2e)))).toEqual(6);
    expect(js(load(pk(0x80, 4, 0x4b, 6, 0x94, 0x30, 0x68, 0, 0x2e)))).toEqual(6);
    expect(js(load(pk(0x4b, 1, 0x32, 0x86, 0x2e)))).toEqual(t(1, 1));
    expect(js(load(pk(0x4b, 1, 0x28, 0x4b, 2, 0x4b, 3, 0x31, 0x2e)))).toEqual(1);
    // a FRAME header is skipped, PROTO 5 accepted
    expect(js(load(pk(0x80, 5, 0x95, ...le(2, 8), 0x4e, 0x2e)))).toEqual(null);
  });

  it('resolves persistent ids through the resolver (BINPERSID and PERSID)', () => {
    const seen: PickleValue[] = [];
    const resolver = (pid: PickleValue) => {
      seen.push(pid);
      return 'resolved';
    };
    expect(load(pk(S('key'), 0x85, 0x51, 0x2e), NO_GLOBALS, resolver)).toBe('resolved');
    expect(js(seen[0]!)).toEqual(t('key'));
    expect(load(pk(latin1('Pabc\n'), 0x2e), NO_GLOBALS, resolver)).toBe('resolved');
    expect(seen[1]).toBe('abc');
    // without a resolver a persistent id is refused
    expect(errorOf(() => load(pk(S('k'), 0x51, 0x2e))).code).toBe('FILE_FORMAT');
  });

  it('calls only allow-listed handlers, with the arguments as data', () => {
    const calls: PickleValue[][] = [];
    const globals = new Map<string, AllowedGlobal>([
      ['m.f', { call: (args) => (calls.push([...args]), { made: 'f' }), build: (obj, state) => Object.assign(obj as object, { state }) }],
      ['m.value', {}],
    ]);
    const out = load(pk(G('m', 'f'), 0x4b, 1, S('x'), 0x86, 0x52, 0x4b, 9, 0x62, 0x2e), globals) as { made: string; state: number };
    expect(out).toEqual({ made: 'f', state: 9 });
    expect(calls.map((a) => a.map(js))).toEqual([[1, 'x']]);
    // STACK_GLOBAL and NEWOBJ reach the same handler
    expect(load(pk(S('m'), S('f'), 0x93, 0x29, 0x81, 0x2e), globals)).toEqual({ made: 'f' });
    // an allow-listed global without `call` is a value only
    const g = load(pk(G('m', 'value'), 0x2e), globals);
    expect(g).toBeInstanceOf(PickleGlobal);
    expect((g as PickleGlobal).qualifiedName).toBe('m.value');
    const e = errorOf(() => load(pk(G('m', 'value'), 0x29, 0x52, 0x2e), globals));
    expect(e.code).toBe('UNSAFE_PICKLE');
    expect(e.message).toContain("'m.value', which may not be called");
  });
});

describe('pickle VM: refuses code', () => {
  const ALLOW = new Map<string, AllowedGlobal>([
    ['collections.OrderedDict', { call: () => new PickleDict('OrderedDict') }],
    ['torch.FloatStorage', {}],
  ]);
  const refused: [string, Uint8Array, string, number][] = [
    // [what, pickle, text the message must contain, byte offset of the refused opcode]
    ['GLOBAL os.system + REDUCE', pk(0x80, 2, G('os', 'system'), S('touch /tmp/x'), 0x85, 0x52, 0x2e), "global 'os.system'", 2],
    ['GLOBAL posix.system', pk(G('posix', 'system'), 0x2e), "global 'posix.system'", 0],
    ['GLOBAL builtins.eval', pk(0x80, 2, G('builtins', 'eval'), S('1+1'), 0x85, 0x52, 0x2e), "global 'builtins.eval'", 2],
    ['GLOBAL builtins.getattr', pk(G('builtins', 'getattr'), 0x2e), "global 'builtins.getattr'", 0],
    ['GLOBAL __builtin__.exec', pk(G('__builtin__', 'exec'), 0x2e), "global '__builtin__.exec'", 0],
    ['GLOBAL subprocess.Popen', pk(0x80, 2, G('subprocess', 'Popen'), 0x2e), "global 'subprocess.Popen'", 2],
    ['GLOBAL copyreg._reconstructor', pk(G('copyreg', '_reconstructor'), 0x2e), "global 'copyreg._reconstructor'", 0],
    [
      'GLOBAL torch.storage._load_from_bytes',
      pk(G('torch.storage', '_load_from_bytes'), 0x2e),
      "global 'torch.storage._load_from_bytes'",
      0,
    ],
    [
      'a class with __setstate__ (__main__.Evil + NEWOBJ + BUILD)',
      pk(0x80, 2, G('__main__', 'Evil'), 0x29, 0x81, 0x7d, 0x62, 0x2e),
      "global '__main__.Evil'",
      2,
    ],
    ['STACK_GLOBAL os.system', pk(0x80, 4, 0x8c, 2, ...latin1('os'), 0x8c, 6, ...latin1('system'), 0x93, 0x2e), "global 'os.system'", 14],
    ['INST', pk(0x28, latin1('ios\nsystem\n'), 0x2e), 'INST', 1],
    ['OBJ', pk(0x28, 0x4e, 0x6f, 0x2e), 'OBJ', 2],
    ['EXT1', pk(0x82, 1, 0x2e), 'EXT1', 0],
    ['EXT2', pk(0x83, 1, 0, 0x2e), 'EXT2', 0],
    ['EXT4', pk(0x84, 1, 0, 0, 0, 0x2e), 'EXT4', 0],
    ['REDUCE on a string', pk(S('os.system'), 0x29, 0x52, 0x2e), 'REDUCE on a str', 15],
    [
      'REDUCE on a value-only global',
      pk(G('torch', 'FloatStorage'), 0x29, 0x52, 0x2e),
      "'torch.FloatStorage', which may not be called",
      21,
    ],
    ['BUILD on a plain dict', pk(0x7d, 0x7d, 0x62, 0x2e), 'BUILD (__setstate__) on a dict', 2],
    ['BUILD on a list', pk(0x5d, 0x7d, 0x62, 0x2e), 'BUILD (__setstate__) on a list', 2],
    ['BUILD on a global', pk(G('torch', 'FloatStorage'), 0x7d, 0x62, 0x2e), 'BUILD (__setstate__) on a torch.FloatStorage', 21],
    [
      'BUILD on an allow-listed object whose handler takes no state',
      pk(G('collections', 'OrderedDict'), 0x29, 0x52, 0x7d, 0x62, 0x2e),
      "made by 'collections.OrderedDict', which does not accept it",
      28,
    ],
    [
      'NEWOBJ_EX with keyword arguments',
      pk(G('collections', 'OrderedDict'), 0x29, 0x28, S('k'), 0x4e, 0x64, 0x92, 0x2e),
      'keyword arguments',
      35,
    ],
  ];
  for (const [what, bytes, text, at] of refused) {
    it(`refuses ${what} (UNSAFE_PICKLE, naming it and the byte offset)`, () => {
      const e = errorOf(() => load(bytes, ALLOW));
      expect(e.code).toBe('UNSAFE_PICKLE');
      expect(e.message).toContain(text);
      expect(e.message).toContain(`archive/data.pkl byte ${at}:`);
      expect(e.file).toBe('test.pth');
    });
  }

  it("refuses CPython's own protocol-2 pickle of bytes (it calls _codecs.encode)", () => {
    // pickle.dumps(b'ab', protocol=2)
    const e = errorOf(() =>
      load(hex('8002635f636f646563730a656e636f64650a710058020000006162710158060000006c6174696e3171028671035271042e')),
    );
    expect(e.code).toBe('UNSAFE_PICKLE');
    expect(e.message).toContain("'_codecs.encode'");
  });

  it('refuses out-of-band buffers (NEXT_BUFFER) as unsupported', () => {
    expect(errorOf(() => load(pk(0x80, 5, 0x97, 0x2e))).code).toBe('UNSUPPORTED_FORMAT');
  });
});

describe('pickle VM: malformed input', () => {
  const broken: [string, Uint8Array, string][] = [
    ['empty', pk(), 'without STOP'],
    ['no STOP', pk(0x4e), 'without STOP'],
    ['STOP on an empty stack', pk(0x2e), 'stack underflow'],
    ['items left over', pk(0x4e, 0x4e, 0x2e), 'items left on the stack'],
    ['an open MARK at STOP', pk(0x28, 0x4e, 0x2e), 'items left on the stack'],
    ['truncated BININT', pk(0x4a, 1, 2), 'truncated BININT'],
    ['BINUNICODE longer than the pickle', pk(0x58, 0xff, 0xff, 0xff, 0x7f, 0x41, 0x2e), 'truncated BINUNICODE'],
    ['BINBYTES8 claiming 2^60 bytes', pk(0x8e, ...le(2 ** 60, 8), 0x2e), 'runs past the end'],
    ['LONG4 with a negative length', pk(0x8b, 0xff, 0xff, 0xff, 0xff, 0x2e), 'negative length'],
    ['invalid UTF-8', pk(0x8c, 1, 0xff, 0x2e), 'not valid UTF-8'],
    ['an unknown opcode', pk(0xff, 0x2e), 'unknown pickle opcode 0xff'],
    ['protocol 6', pk(0x80, 6, 0x4e, 0x2e), 'unsupported pickle protocol'],
    ['a memo key never stored', pk(0x68, 3, 0x2e), 'memo key 3'],
    ['TUPLE without MARK', pk(0x4e, 0x74, 0x2e), 'without a MARK'],
    ['APPEND to a dict', pk(0x7d, 0x4e, 0x61, 0x2e), 'not a list'],
    ['SETITEM on a list', pk(0x5d, 0x4e, 0x4e, 0x73, 0x2e), 'not a dict'],
    ['a list as a dict key', pk(0x7d, 0x5d, 0x4e, 0x73, 0x2e), 'unhashable list'],
    ['an odd SETITEMS', pk(0x7d, 0x28, 0x4e, 0x75, 0x2e), 'odd number'],
    ['an INT that is not a number', pk(latin1('Iabc\n'), 0x2e), 'not an integer'],
    ['an INT with 5000 digits', pk(latin1(`I${'9'.repeat(5000)}\n`), 0x2e), 'more than 4300 digits'],
    ['STACK_GLOBAL with non-strings', pk(0x4b, 1, 0x4b, 2, 0x93, 0x2e), 'needs two strings'],
    ['a text GLOBAL without newline', pk(latin1('cos'), 0x2e), 'no newline'],
  ];
  for (const [what, bytes, text] of broken) {
    it(`${what} → FILE_FORMAT`, () => {
      const e = errorOf(() => load(bytes));
      expect(e.code).toBe('FILE_FORMAT');
      expect(e.message).toContain(text);
      expect(e.message).toMatch(/archive\/data\.pkl byte \d+:/);
    });
  }

  it('a deep nesting of lists does not recurse (100000 levels)', () => {
    // 100000 MARKs then 100000 LISTs: the innermost LIST makes [], each outer one wraps the list before
    const depth = 100_000;
    const bytes = new Uint8Array(depth * 2 + 2);
    for (let i = 0; i < depth; i++) bytes[i] = 0x28; // MARK
    for (let i = 0; i < depth; i++) bytes[depth + i] = 0x6c; // LIST
    bytes[2 * depth] = 0x2e;
    const v = load(bytes.subarray(0, 2 * depth + 1));
    let d = 0;
    let x: PickleValue = v;
    while (x instanceof PickleList && x.items.length > 0) {
      x = x.items[0]!;
      d++;
    }
    expect(d).toBe(depth - 1);
  });
});
