// GGUF writer for RWKV-6 and RWKV-7 checkpoints, in the form llama.cpp loads
// (general.architecture rwkv6 / rwkv7; tensor names, shapes and metadata keys of llama.cpp's
// src/llama-arch.cpp and src/models/rwkv6*.cpp / rwkv7*.cpp, as in fixtures/gguf/).
//
// The tensors are laid out as llama.cpp's own converter (convert_hf_to_gguf.py) lays them out, and
// `parseGguf` (gguf.ts) undoes exactly these changes:
//   - `[1, 1, C]` vectors squeezed to `[C]`; v7 `r_k [H, N]` flattened to `[C]`
//   - token-shift mixes fused: v7 x_r,x_w,x_k,x_v,x_a,x_g → time_mix_lerp_fused [6, 1, 1, C];
//     v6 time_maa_w,k,v,r,g → time_mix_lerp_fused [5, 1, 1, C] (time_maa_x stays separate)
//   - LoRA matrices transposed (v7 w1/w2, a1/a2, v1/v2, g1/g2; v6 time_maa_w1, time_decay_w1/w2);
//     v6 time_maa_w2 [5, D, C] → [5, C, D]
//   - v7 layer 0 gets zero v0/v1/v2 (llama.cpp requires them; the model never uses them)
// GGUF dims are written in ggml order (the PyTorch shape reversed).
//
// dtypes follow llama.cpp's converter: vectors, the fused mixes, time_faaaa and the decay /
// token-shift LoRAs (v6 w1, w2, decay_w1, decay_w2; v7 w1, w2) are always F32; the other matrices
// (emb, head, the linear layers, v7 a/v/g LoRAs) take the requested dtype, or a ggml block type
// with `quantize`, or keep their stored dtype. A tensor whose dtype does not change is copied
// bit-exactly.
//
// RWKV-4 and RWKV-5 cannot be written: llama.cpp has no such architectures (`cannot`).

import { RwkvError, shapeString } from '../errors.ts';
import { detectConfig, type ModelConfig } from '../model/config.ts';
import { GGML_TYPE_IDS, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GgufType, type GgufValueType, ggufArchitecture } from '../io/gguf.ts';
import { type GgmlQuantType, QK, blockBytes, isGgmlQuantType, quantize } from '../io/ggml-quants.ts';
import { type Checkpoint, type HostTensor, type StoredDType, makeTensor, numel } from '../tensor/tensor.ts';
import { type ByteSink, type CheckpointWriter, DTYPE_BYTES, type FloatDType, type WriteOptions, encodeTensor } from '../io/write.ts';

export interface GgufWriterOptions {
  /**
   * Store the large matrices (emb, head, the linear layers, v7 a/v/g LoRAs) in this ggml block
   * type. Matrices whose rows are not whole blocks of 32 fall back to the float dtype.
   */
  quantize?: GgmlQuantType;
  /**
   * The tokenizer's tokens as bytes, by id (holes allowed: they become `[PAD<id>]`, and a hole at
   * id 0 becomes `<s>`, as llama.cpp's converter writes the RWKV World vocabulary). Needed for
   * models whose vocabulary is not the 256 bytes; `parseRwkvVocab` reads rwkv_vocab_v20230424.txt.
   */
  vocab?: readonly (Uint8Array | undefined)[];
  /** general.name (default "rwkv6" / "rwkv7") */
  name?: string;
}

/** llama.cpp `enum llama_ftype` values for general.file_type. */
const FILE_TYPES: Readonly<Record<StoredDType, number>> = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q8_0: 7,
  Q5_0: 8,
  Q5_1: 9,
  BF16: 32,
};

/** gguf-py TokenType */
const TOKEN_NORMAL = 1;
const TOKEN_CONTROL = 3;
const TOKEN_UNUSED = 5;

type Kind = 'float' | 'matrix';

interface OutTensor {
  readonly name: string;
  /** PyTorch (row-major) shape; written reversed */
  readonly shape: readonly number[];
  readonly kind: Kind;
  /** the checkpoint tensor stored unchanged (same values, same order), when there is one */
  readonly same?: HostTensor;
  /** the values, when they are computed (transposes, concatenations, zeros) */
  readonly values?: () => Float32Array;
}

interface Planned extends OutTensor {
  readonly dtype: StoredDType;
  readonly bytes: number;
  readonly offset: number;
}

type MetaValue =
  | { type: Exclude<GgufValueType, 9>; value: number | string | boolean }
  | { type: 9; elementType: GgufValueType; value: readonly (number | string)[] };

function transpose(x: Float32Array, r: number, c: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = x[i * c + j]!;
  return out;
}

/** How GGUF-for-llama.cpp sees this model: the reason it cannot hold it, or undefined. */
function whyNot(ckpt: Checkpoint, opts: GgufWriterOptions): string | undefined {
  let cfg: ModelConfig;
  try {
    cfg = detectConfig(ckpt);
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  switch (cfg.version) {
    case '4':
      return 'GGUF (llama.cpp) has no RWKV-4 architecture (llama.cpp runs only rwkv6 and rwkv7); use .safetensors or rwkv.cpp .bin';
    case '5.0':
    case '5.1':
    case '5.2':
      return `GGUF (llama.cpp) has no RWKV-5 architecture (this is RWKV-${cfg.version}; llama.cpp runs only rwkv6 and rwkv7); use .safetensors or rwkv.cpp .bin`;
    case '7-deepembed':
      return "llama.cpp's rwkv7 has no DeepEmbed tensors (ffn.s_emb, s1, s2, s0)";
  }
  if (cfg.hasTimeState) {
    return "llama.cpp's rwkv6 has no state-tuning tensor (att.time_state); convert without the state file";
  }
  if (cfg.nVocab !== 256 && opts.vocab === undefined) {
    return `llama.cpp needs the tokenizer vocabulary in the GGUF file, and this ${cfg.nVocab}-token model has none built in; pass the vocabulary (for RWKV World models rwkv_vocab_v20230424.txt)`;
  }
  if (opts.vocab !== undefined && opts.vocab.length > cfg.nVocab) {
    return `the vocabulary has ${opts.vocab.length} tokens but the model only ${cfg.nVocab} (emb.weight rows)`;
  }
  return undefined;
}

/** The tensors llama.cpp's rwkv6 / rwkv7 loader expects, from a checkpoint in the original layout. */
function plan(ckpt: Checkpoint, cfg: ModelConfig): OutTensor[] {
  const get = (k: string): HostTensor => {
    const t = ckpt.get(k);
    if (t === undefined) throw new RwkvError('MISSING_TENSOR', 'tensor missing for the GGUF conversion', { tensor: k });
    return t;
  };
  const C = cfg.nEmbd;
  const out: OutTensor[] = [];
  /** unchanged values, squeezed or reshaped to `shape` */
  const same = (name: string, key: string, kind: Kind, shape?: readonly number[]) => {
    const t = get(key);
    const s = shape ?? t.shape;
    if (numel(s) !== numel(t.shape)) {
      throw new RwkvError('SHAPE_MISMATCH', 'tensor has the wrong size for GGUF', {
        tensor: key,
        expected: shapeString(s),
        actual: shapeString(t.shape),
      });
    }
    out.push({ name, shape: s, kind, same: t });
  };
  const vector = (name: string, key: string) => same(name, key, 'float', [C]);
  /** a 2-D tensor written transposed (and batched over the first dim for 3-D) */
  const transposed = (name: string, key: string, kind: Kind) => {
    const t = get(key);
    if (t.shape.length === 2) {
      const [r, c] = t.shape as [number, number];
      out.push({ name, shape: [c, r], kind, values: () => transpose(t.data, r, c) });
    } else if (t.shape.length === 3) {
      const [b, r, c] = t.shape as [number, number, number];
      out.push({
        name,
        shape: [b, c, r],
        kind,
        values: () => {
          const x = t.data;
          const y = new Float32Array(x.length);
          for (let k = 0; k < b; k++) y.set(transpose(x.subarray(k * r * c, (k + 1) * r * c), r, c), k * r * c);
          return y;
        },
      });
    } else {
      throw new RwkvError('SHAPE_MISMATCH', 'expected a matrix', { tensor: key, actual: shapeString(t.shape) });
    }
  };
  const fused = (name: string, keys: readonly string[]) => {
    const ts = keys.map(get);
    for (const [i, t] of ts.entries()) {
      if (numel(t.shape) !== C)
        throw new RwkvError('SHAPE_MISMATCH', 'token-shift mix must have C values', {
          tensor: keys[i]!,
          expected: `[1, 1, ${C}]`,
          actual: shapeString(t.shape),
        });
    }
    out.push({
      name,
      shape: [ts.length, 1, 1, C],
      kind: 'float',
      values: () => {
        const y = new Float32Array(ts.length * C);
        ts.forEach((t, i) => y.set(t.data, i * C));
        return y;
      },
    });
  };
  const zeros = (name: string, shape: readonly number[]) =>
    out.push({ name, shape, kind: 'float', values: () => new Float32Array(numel(shape)) });

  same('token_embd.weight', 'emb.weight', 'matrix');
  vector('token_embd_norm.weight', 'blocks.0.ln0.weight');
  vector('token_embd_norm.bias', 'blocks.0.ln0.bias');
  for (let b = 0; b < cfg.nLayer; b++) {
    const p = `blocks.${b}.`;
    const n = `blk.${b}.`;
    vector(`${n}attn_norm.weight`, `${p}ln1.weight`);
    vector(`${n}attn_norm.bias`, `${p}ln1.bias`);
    vector(`${n}attn_norm_2.weight`, `${p}ln2.weight`);
    vector(`${n}attn_norm_2.bias`, `${p}ln2.bias`);
    if (cfg.version === '7') {
      for (const x of ['w', 'a', 'v', 'g'] as const) {
        if (x === 'v' && b === 0) {
          // dummies with the ICLR rank, as llama.cpp's loader creates them for layer 0
          const da = cfg.lora['a']!;
          zeros(`${n}time_mix_v0.weight`, [C]);
          zeros(`${n}time_mix_v1.weight`, [da, C]);
          zeros(`${n}time_mix_v2.weight`, [C, da]);
          continue;
        }
        if (x !== 'g') vector(`${n}time_mix_${x}0.weight`, `${p}att.${x}0`);
        const kind: Kind = x === 'w' ? 'float' : 'matrix';
        transposed(`${n}time_mix_${x}1.weight`, `${p}att.${x}1`, kind);
        transposed(`${n}time_mix_${x}2.weight`, `${p}att.${x}2`, kind);
      }
      fused(
        `${n}time_mix_lerp_fused.weight`,
        ['x_r', 'x_w', 'x_k', 'x_v', 'x_a', 'x_g'].map((x) => `${p}att.${x}`),
      );
      vector(`${n}time_mix_k_k.weight`, `${p}att.k_k`);
      vector(`${n}time_mix_k_a.weight`, `${p}att.k_a`);
      vector(`${n}time_mix_r_k.weight`, `${p}att.r_k`);
      same(`${n}time_mix_key.weight`, `${p}att.key.weight`, 'matrix');
      same(`${n}time_mix_value.weight`, `${p}att.value.weight`, 'matrix');
      same(`${n}time_mix_receptance.weight`, `${p}att.receptance.weight`, 'matrix');
      vector(`${n}time_mix_ln.weight`, `${p}att.ln_x.weight`);
      vector(`${n}time_mix_ln.bias`, `${p}att.ln_x.bias`);
      same(`${n}time_mix_output.weight`, `${p}att.output.weight`, 'matrix');
      vector(`${n}channel_mix_lerp_k.weight`, `${p}ffn.x_k`);
      same(`${n}channel_mix_key.weight`, `${p}ffn.key.weight`, 'matrix');
      same(`${n}channel_mix_value.weight`, `${p}ffn.value.weight`, 'matrix');
    } else {
      transposed(`${n}time_mix_w1.weight`, `${p}att.time_maa_w1`, 'float');
      transposed(`${n}time_mix_w2.weight`, `${p}att.time_maa_w2`, 'float');
      vector(`${n}time_mix_lerp_x.weight`, `${p}att.time_maa_x`);
      fused(
        `${n}time_mix_lerp_fused.weight`,
        ['w', 'k', 'v', 'r', 'g'].map((x) => `${p}att.time_maa_${x}`),
      );
      same(`${n}time_mix_first.weight`, `${p}att.time_faaaa`, 'float', [cfg.nHead, cfg.headSize]);
      vector(`${n}time_mix_decay.weight`, `${p}att.time_decay`);
      transposed(`${n}time_mix_decay_w1.weight`, `${p}att.time_decay_w1`, 'float');
      transposed(`${n}time_mix_decay_w2.weight`, `${p}att.time_decay_w2`, 'float');
      same(`${n}time_mix_key.weight`, `${p}att.key.weight`, 'matrix');
      same(`${n}time_mix_value.weight`, `${p}att.value.weight`, 'matrix');
      same(`${n}time_mix_receptance.weight`, `${p}att.receptance.weight`, 'matrix');
      same(`${n}time_mix_gate.weight`, `${p}att.gate.weight`, 'matrix');
      vector(`${n}time_mix_ln.weight`, `${p}att.ln_x.weight`);
      vector(`${n}time_mix_ln.bias`, `${p}att.ln_x.bias`);
      same(`${n}time_mix_output.weight`, `${p}att.output.weight`, 'matrix');
      vector(`${n}channel_mix_lerp_k.weight`, `${p}ffn.time_maa_k`);
      vector(`${n}channel_mix_lerp_r.weight`, `${p}ffn.time_maa_r`);
      same(`${n}channel_mix_key.weight`, `${p}ffn.key.weight`, 'matrix');
      same(`${n}channel_mix_value.weight`, `${p}ffn.value.weight`, 'matrix');
      same(`${n}channel_mix_receptance.weight`, `${p}ffn.receptance.weight`, 'matrix');
    }
  }
  vector('output_norm.weight', 'ln_out.weight');
  vector('output_norm.bias', 'ln_out.bias');
  same('output.weight', 'head.weight', 'matrix');
  return out;
}

function storedBytes(dtype: StoredDType, count: number): number {
  if (dtype === 'F32' || dtype === 'F16' || dtype === 'BF16') return count * DTYPE_BYTES[dtype];
  return (count / QK) * blockBytes(dtype);
}

/** The dtype a tensor is written in (see the file comment). */
function chooseDType(t: OutTensor, opts: GgufWriterOptions, requested: FloatDType | undefined): StoredDType {
  if (t.kind === 'float') return 'F32';
  const rowsAreBlocks = t.shape[t.shape.length - 1]! % QK === 0;
  if (opts.quantize !== undefined && rowsAreBlocks) return opts.quantize;
  if (requested !== undefined) return requested;
  const own = t.same?.storedAs;
  if (own === 'F32' || own === 'F16' || own === 'BF16') return own;
  // a quantized source tensor in the same layout: its blocks are copied unchanged
  if (own !== undefined && isGgmlQuantType(own) && rowsAreBlocks && t.same?.raw !== undefined) return own;
  return 'F32';
}

function encode(t: Planned): Uint8Array {
  if (t.same !== undefined && t.same.storedAs === t.dtype && t.same.raw !== undefined) return t.same.raw();
  const values = t.values !== undefined ? t.values() : t.same!.data;
  if (isGgmlQuantType(t.dtype)) return quantize(t.dtype, values);
  return encodeTensor(makeTensor(t.shape, values), t.dtype as FloatDType);
}

/** Python's repr of a bytes object without the b'' — the token text llama.cpp's rwkv vocab unescapes. */
export function escapeRwkvToken(bytes: Uint8Array): string {
  const hasSingle = bytes.includes(0x27);
  const hasDouble = bytes.includes(0x22);
  const escapeSingle = hasSingle && !hasDouble ? false : hasSingle;
  let s = '';
  for (const b of bytes) {
    if (b === 0x5c) s += '\\\\';
    else if (b === 0x27 && escapeSingle) s += "\\'";
    else if (b === 0x09) s += '\\t';
    else if (b === 0x0a) s += '\\n';
    else if (b === 0x0d) s += '\\r';
    else if (b < 0x20 || b >= 0x7f) s += `\\x${b.toString(16).padStart(2, '0')}`;
    else s += String.fromCharCode(b);
  }
  return s;
}

/**
 * Parse the RWKV World vocabulary file (rwkv_vocab_v20230424.txt: `<id> <Python str or bytes
 * literal> <byte length>` per line) into token bytes by id.
 */
export function parseRwkvVocab(text: string, file = 'vocabulary'): (Uint8Array | undefined)[] {
  const out: (Uint8Array | undefined)[] = [];
  const enc = new TextEncoder();
  const lines = text.split('\n');
  lines.forEach((raw, ln) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    const bad = (why: string) => new RwkvError('FILE_FORMAT', `vocabulary line ${ln + 1}: ${why}`, { file, actual: line.slice(0, 80) });
    const first = line.indexOf(' ');
    const last = line.lastIndexOf(' ');
    if (first <= 0 || last <= first) throw bad('expected "<id> <literal> <length>"');
    const id = Number(line.slice(0, first));
    const len = Number(line.slice(last + 1));
    if (!Number.isSafeInteger(id) || id < 0 || id > 1 << 24 || !Number.isSafeInteger(len)) throw bad('bad id or length');
    let lit = line.slice(first + 1, last);
    const isBytes = lit.startsWith('b');
    if (isBytes) lit = lit.slice(1);
    const q = lit[0];
    if ((q !== "'" && q !== '"') || lit.length < 2 || lit[lit.length - 1] !== q) throw bad('not a Python string literal');
    const body = lit.slice(1, -1);
    const bytes: number[] = [];
    const pushCp = (cp: number) => {
      if (isBytes) bytes.push(cp);
      else bytes.push(...enc.encode(String.fromCodePoint(cp)));
    };
    for (let i = 0; i < body.length; i++) {
      const ch = body[i]!;
      if (ch !== '\\') {
        const cp = body.codePointAt(i)!;
        if (cp > 0xffff) i++;
        if (isBytes && cp > 0x7f) throw bad('non-ASCII character in a bytes literal');
        pushCp(cp);
        continue;
      }
      const e = body[++i];
      const simple: Record<string, number> = {
        '\\': 0x5c,
        "'": 0x27,
        '"': 0x22,
        n: 0x0a,
        t: 0x09,
        r: 0x0d,
        a: 0x07,
        b: 0x08,
        f: 0x0c,
        v: 0x0b,
        '0': 0,
      };
      if (e !== undefined && simple[e] !== undefined) {
        pushCp(simple[e]!);
      } else if (e === 'x' || (!isBytes && (e === 'u' || e === 'U'))) {
        const n = e === 'x' ? 2 : e === 'u' ? 4 : 8;
        const hex = body.slice(i + 1, i + 1 + n);
        if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== n) throw bad(`bad \\${e} escape`);
        pushCp(parseInt(hex, 16));
        i += n;
      } else {
        throw bad(`unknown escape \\${e ?? ''}`);
      }
    }
    if (bytes.length !== len) throw bad(`literal is ${bytes.length} bytes, the line says ${len}`);
    out[id] = Uint8Array.from(bytes);
  });
  return out;
}

function tokenizerMeta(cfg: ModelConfig, vocab: GgufWriterOptions['vocab']): [string, MetaValue][] {
  const tokens: string[] = [];
  const types: number[] = [];
  for (let i = 0; i < cfg.nVocab; i++) {
    const t = vocab === undefined ? Uint8Array.of(i) : vocab[i];
    if (t !== undefined) {
      tokens.push(escapeRwkvToken(t));
      types.push(TOKEN_NORMAL);
    } else if (i === 0) {
      tokens.push('<s>');
      types.push(TOKEN_CONTROL);
    } else {
      tokens.push(`[PAD${i}]`);
      types.push(TOKEN_UNUSED);
    }
  }
  const meta: [string, MetaValue][] = [
    ['tokenizer.ggml.model', { type: GgufType.STRING, value: 'rwkv' }],
    ['tokenizer.ggml.tokens', { type: GgufType.ARRAY, elementType: GgufType.STRING, value: tokens }],
    ['tokenizer.ggml.token_type', { type: GgufType.ARRAY, elementType: GgufType.INT32, value: types }],
  ];
  if (vocab !== undefined && vocab[0] === undefined) {
    // what llama.cpp's converter writes for the World vocabulary
    meta.push(['tokenizer.ggml.bos_token_id', { type: GgufType.UINT32, value: 0 }]);
    meta.push(['tokenizer.ggml.eos_token_id', { type: GgufType.UINT32, value: 0 }]);
  }
  return meta;
}

function modelMeta(cfg: ModelConfig, opts: GgufWriterOptions, fileType: number): [string, MetaValue][] {
  const arch = ggufArchitecture(cfg.version);
  if (arch === undefined) throw new RwkvError('UNSUPPORTED_FORMAT', `GGUF (llama.cpp) has no RWKV-${cfg.version} architecture`);
  const u32 = (value: number): MetaValue => ({ type: GgufType.UINT32, value });
  const meta: [string, MetaValue][] = [
    ['general.architecture', { type: GgufType.STRING, value: arch }],
    ['general.name', { type: GgufType.STRING, value: opts.name ?? arch }],
    ['general.file_type', u32(fileType)],
    [`${arch}.context_length`, u32(1048576)], // RWKV has no context limit; llama.cpp's converter writes this
    [`${arch}.embedding_length`, u32(cfg.nEmbd)],
    [`${arch}.block_count`, u32(cfg.nLayer)],
    [`${arch}.feed_forward_length`, u32(cfg.nFfn)],
    [`${arch}.attention.head_count`, u32(0)], // required by llama.cpp, unused
    [`${arch}.attention.layer_norm_epsilon`, { type: GgufType.FLOAT32, value: 1e-5 }],
    [`${arch}.wkv.head_size`, u32(cfg.headSize)],
  ];
  if (cfg.version === '7') {
    meta.push(
      ['rwkv7.attention.decay_lora_rank', u32(cfg.lora['w']!)],
      ['rwkv7.attention.iclr_lora_rank', u32(cfg.lora['a']!)],
      ['rwkv7.attention.value_residual_mix_lora_rank', u32(cfg.lora['v'] ?? cfg.lora['a']!)],
      ['rwkv7.attention.gate_lora_rank', u32(cfg.lora['g']!)],
    );
  } else {
    meta.push(
      ['rwkv6.rescale_every_n_layers', u32(0)], // the weights are the original ones: no halving
      ['rwkv6.time_mix_extra_dim', u32(cfg.lora['time_maa']!)],
      ['rwkv6.time_decay_extra_dim', u32(cfg.lora['time_decay']!)],
    );
  }
  return [...meta, ...tokenizerMeta(cfg, opts.vocab)];
}

/** Little-endian GGUF encoding of the header pieces. */
class HeaderBytes {
  private parts: Uint8Array[] = [];
  length = 0;
  private readonly enc = new TextEncoder();
  private push(b: Uint8Array) {
    this.parts.push(b);
    this.length += b.length;
  }
  u32(v: number) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    this.push(b);
  }
  u64(v: number) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
    this.push(b);
  }
  str(s: string) {
    const b = this.enc.encode(s);
    this.u64(b.length);
    this.push(b);
  }
  scalar(type: GgufValueType, v: number | string | boolean) {
    const b = new Uint8Array(8);
    const dv = new DataView(b.buffer);
    switch (type) {
      case GgufType.STRING:
        this.str(v as string);
        return;
      case GgufType.UINT32:
        dv.setUint32(0, v as number, true);
        this.push(b.subarray(0, 4));
        return;
      case GgufType.INT32:
        dv.setInt32(0, v as number, true);
        this.push(b.subarray(0, 4));
        return;
      case GgufType.FLOAT32:
        dv.setFloat32(0, v as number, true);
        this.push(b.subarray(0, 4));
        return;
      case GgufType.BOOL:
        this.push(Uint8Array.of(v ? 1 : 0));
        return;
      default:
        throw new Error(`gguf writer: value type ${type} not used`);
    }
  }
  meta(key: string, m: MetaValue) {
    this.str(key);
    this.u32(m.type);
    if (m.type === GgufType.ARRAY) {
      this.u32(m.elementType);
      this.u64(m.value.length);
      for (const v of m.value) this.scalar(m.elementType, v);
    } else {
      this.scalar(m.type, m.value);
    }
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

const pad = (n: number, a: number) => (a - (n % a)) % a;

/** A GGUF writer; `ggufWriter` is the default one (float dtypes, byte vocabulary). */
export function createGgufWriter(opts: GgufWriterOptions = {}): CheckpointWriter {
  if (opts.quantize !== undefined && !isGgmlQuantType(opts.quantize)) {
    throw new RwkvError('INVALID_ARGUMENT', 'unknown quantization type', {
      argument: 'quantize',
      expected: 'Q8_0, Q4_0, Q4_1, Q5_0 or Q5_1',
      actual: String(opts.quantize),
    });
  }
  return {
    format: 'gguf',
    cannot: (ckpt) => whyNot(ckpt, opts),
    write(ckpt: Checkpoint, sink: ByteSink, options: WriteOptions): void {
      const why = whyNot(ckpt, opts);
      if (why !== undefined) throw new RwkvError('UNSUPPORTED_FORMAT', `GGUF cannot hold this model: ${why}`);
      const cfg = detectConfig(ckpt);
      const tensors = plan(ckpt, cfg);
      const alignment = GGUF_DEFAULT_ALIGNMENT;
      let offset = 0;
      const planned: Planned[] = tensors.map((t) => {
        const dtype = chooseDType(t, opts, options.dtype);
        const bytes = storedBytes(dtype, numel(t.shape));
        const p: Planned = { ...t, dtype, bytes, offset };
        offset += bytes + pad(bytes, alignment);
        return p;
      });
      // general.file_type: the dtype holding most of the matrices' bytes
      const byType = new Map<StoredDType, number>();
      for (const t of planned) if (t.kind === 'matrix') byType.set(t.dtype, (byType.get(t.dtype) ?? 0) + t.bytes);
      const main = [...byType.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'F32';
      const meta = modelMeta(cfg, opts, FILE_TYPES[main]);

      const h = new HeaderBytes();
      h.u32(GGUF_MAGIC);
      h.u32(3);
      h.u64(planned.length);
      h.u64(meta.length);
      for (const [k, v] of meta) h.meta(k, v);
      for (const t of planned) {
        h.str(t.name);
        h.u32(t.shape.length);
        for (const d of [...t.shape].reverse()) h.u64(d);
        h.u32(GGML_TYPE_IDS[t.dtype]);
        h.u64(t.offset);
      }
      const head = h.bytes();
      sink.write(head);
      sink.write(new Uint8Array(pad(head.length, alignment)));
      planned.forEach((t, i) => {
        const b = encode(t);
        if (b.length !== t.bytes) {
          throw new Error(`gguf writer: ${t.name} ${shapeString(t.shape)} ${t.dtype} encoded to ${b.length} bytes, expected ${t.bytes}`);
        }
        sink.write(b);
        sink.write(new Uint8Array(pad(b.length, alignment)));
        options.onProgress?.(i + 1, planned.length, sink.position);
      });
    },
  };
}

export const ggufWriter: CheckpointWriter = createGgufWriter();
