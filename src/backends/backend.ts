// The backend contract. The model (src/model/) owns the order of operations, the weights and
// the state bookkeeping; a backend owns memory and the numerics of this closed set of ops.
// Every op writes its first argument (`out`), like llm.c's (out, inp, weight, …) order, and
// returns nothing: ops are enqueued in program order, so a device backend (CUDA, WebGPU) can run
// them asynchronously; the only way back to the host is the async `download`.
//
// Dimension legend: T tokens in the call, C n_embd, H heads, N head size (C = H·N),
// K/O matmul in/out width, V vocab.
//
// Shapes are row-major. A "row vector" argument ([C]) broadcasts over the T rows of a [T, C]
// argument wherever an op says "[C] | [T, C]".

/** An opaque handle to backend memory. Only the backend that made it can read it. */
export interface Tensor {
  readonly shape: readonly number[];
  /** The checkpoint key (or a scratch name) it holds, for error messages. */
  readonly label: string;
}

/** Element-wise functions: a closed set, so every backend implements each one. */
export type UnaryOp =
  | 'sigmoid' // σ(x) = 1 / (1 + e^−x)
  | 'tanh'
  | 'silu' // x·σ(x)
  | 'relu2' // max(x, 0)²  (channel-mix key activation)
  | 'neg' // −x
  | 'expNegExp' // exp(−exp(x)): v5/v6 decay multiplier from the raw decay
  | 'rwkv7Decay'; // exp(−e^−0.5 · σ(x)): v7 decay multiplier from w0 + LoRA

export type BinaryOp = 'add' | 'sub' | 'mul';

/**
 * How a weight matrix is kept in backend memory. 'bf16'/'f16' halve it; the model asks for them
 * when every value is exact in them, or when the strategy string asks for that precision (then
 * values are rounded to nearest-even). 'i8' is the official package's uint8 scheme with per-row
 * and per-column offset and scale (model.py L818-847; quant-i8.ts): lossy, only when the strategy
 * asks (`fp32i8`).
 */
export type WeightStorage = 'f32' | 'bf16' | 'f16' | 'i8';

export interface BackendCaps {
  readonly name: string;
  readonly simd: boolean;
  readonly threads: number;
  /** Human-readable reason this backend was chosen / how it runs. */
  readonly description: string;
}

export interface Backend {
  readonly caps: BackendCaps;

  // ---- memory ----
  /**
   * Put host data into a new tensor of `shape` (data.length must equal its size). The backend
   * may keep `data` itself rather than copy it: the caller must not modify it afterwards.
   * `storage` asks for a compact encoding of a weight matrix used only as `matmul`'s W (see
   * WeightStorage for when the model asks for a lossy one). A backend may ignore it and store
   * float32.
   */
  upload(data: Float32Array, shape: readonly number[], label: string, storage?: WeightStorage): Tensor;
  /**
   * Optional: a weight matrix from 16-bit bits as stored in a checkpoint (bf16 or f16,
   * little-endian), kept as they are (the backend may keep `bits` itself). Lets a loader skip
   * the float32 decode of 16-bit checkpoints entirely.
   */
  uploadCompact?(bits: Uint16Array, shape: readonly number[], label: string, encoding: 'bf16' | 'f16'): Tensor;
  /**
   * Optional: a new float32 tensor whose values `fill` writes straight into the backend's memory
   * (`dst`: a view of the tensor, length = its size, valid only during the call). Lets a loader
   * skip the host copy of a weight. With `storage` bf16/i8 (a matrix), the tensor is stored so,
   * encoded from the values `fill` wrote (a backend that implements this honours `storage`).
   */
  uploadFilled?(
    shape: readonly number[],
    label: string,
    fill: (dst: Float32Array) => void,
    storage?: Exclude<WeightStorage, 'f16'>,
  ): Tensor;
  /** A new zero-filled tensor. */
  zeros(shape: readonly number[], label: string): Tensor;
  /** Overwrite a tensor with host data of the same size. */
  write(t: Tensor, data: Float32Array): void;
  /** Copy a tensor's contents to the host (after every op enqueued before it). */
  download(t: Tensor): Promise<Float32Array>;
  /** dst := src (same size). */
  copy(dst: Tensor, src: Tensor): void;
  /** Release a tensor; using it afterwards is an error. */
  free(t: Tensor): void;

  // ---- ops ----
  /** out[t] = table[tokens[t]]: out [T, C], table [V, C]. */
  embedding(out: Tensor, table: Tensor, tokens: Int32Array): void;
  /** out = x·Wᵀ: out [T, O], x [T, K], W [O, K] (PyTorch Linear layout: [out, in]). */
  matmul(out: Tensor, x: Tensor, W: Tensor): void;
  /**
   * Normalise each consecutive group of `groupSize` channels of every row to zero mean and unit
   * (biased) variance, then ·weight + bias. groupSize = C is LayerNorm, = N is GroupNorm (ln_x).
   * out, x [T, C]; weight, bias [C].
   */
  layerNorm(out: Tensor, x: Tensor, weight: Tensor, bias: Tensor, groupSize: number, eps: number): void;
  /** Per group of `groupSize` channels: x / max(‖x‖₂, eps). out, x [T, C]. */
  l2NormalizeGroups(out: Tensor, x: Tensor, groupSize: number, eps: number): void;
  /** Token shift: out[0] = prev, out[t] = x[t − 1]. out, x [T, C]; prev [C]. */
  shift(out: Tensor, x: Tensor, prev: Tensor): void;
  /** out = x[T − 1]: out [C], x [T, C]. */
  lastRow(out: Tensor, x: Tensor): void;
  /** out = f(x), same shape. */
  unary(op: UnaryOp, out: Tensor, x: Tensor): void;
  /** out = a ∘ b: out, a [T, C]; b [C] | [T, C]. */
  binary(op: BinaryOp, out: Tensor, a: Tensor, b: Tensor): void;
  /** out = a + (b − a) ∘ t: out, a [T, C]; b, t [C] | [T, C]. */
  lerp(out: Tensor, a: Tensor, b: Tensor, t: Tensor): void;
  /** out[t, h] = Σ_{c in group h} x[t, c]: out [T, H], x [T, H·groupSize]. */
  groupSum(out: Tensor, x: Tensor, groupSize: number): void;
  /** out[t, c] = x[t, c] · s[t, c / groupSize]: out, x [T, C], s [T, H]. */
  groupScale(out: Tensor, x: Tensor, s: Tensor, groupSize: number): void;
  /**
   * Per-row vector × matrix: out[t, j] = Σ_i x[t, i] · M[t, i·J + j].
   * out [T, J], x [T, I], M [T, I·J] (a J-column matrix per row; DeepEmbed's per-token s_emb).
   */
  rowVecMat?(out: Tensor, x: Tensor, M: Tensor): void;

  // ---- WKV recurrences (one per state form) ----
  /**
   * RWKV-4 WKV, numerically stabilised (aa, bb scaled by e^−pp). For each t:
   *   wkv = (e^(pp−p)·aa + e^(u+k−p)·v) / (e^(pp−p)·bb + e^(u+k−p)),  p = max(pp, u+k)
   *   then aa, bb, pp advance with decay w (w = −exp(time_decay) < 0).
   * out, k, v [T, C]; aa, bb, pp [C] (in/out); w, u [C].
   */
  wkv4?(out: Tensor, aa: Tensor, bb: Tensor, pp: Tensor, w: Tensor, u: Tensor, k: Tensor, v: Tensor): void;
  /**
   * RWKV-5/6 WKV, state S[h, i, j] with i = key channel, j = value channel. For each t, head h:
   *   out[j] = Σ_i r[i] · (u[i]·k[i]·v[j] + S[i, j]);  S[i, j] = k[i]·v[j] + w[i]·S[i, j]
   * out, r, k, v [T, C]; w [C] (v5, constant) | [T, C] (v6, per token), in (0, 1); u [C];
   * S [H, N, N] (in/out).
   */
  wkv5?(out: Tensor, S: Tensor, r: Tensor, k: Tensor, v: Tensor, w: Tensor, u: Tensor, H: number): void;
  /**
   * RWKV-7 WKV, state S[h, i, j] with i = value channel, j = key channel. For each t, head h:
   *   sa[i] = Σ_j S[i, j]·a[j];  S[i, j] = S[i, j]·w[j] + sa[i]·b[j] + v[i]·k[j];  out[i] = Σ_j S[i, j]·r[j]
   * (the model passes a = −κ̂, b = κ̂ ∘ iclr). out, r, w, k, v, a, b [T, C]; S [H, N, N] (in/out).
   */
  wkv7?(out: Tensor, S: Tensor, r: Tensor, w: Tensor, k: Tensor, v: Tensor, a: Tensor, b: Tensor, H: number): void;
}

/**
 * The ops a version's block may need that a backend may leave out (a v7-only backend need not
 * implement wkv4 / wkv5). A backend declares one by having the method; the model checks every
 * op its version needs on every layer's backend when it is built (requireOps) and refuses with
 * OP_UNSUPPORTED naming the op, so a missing op is never found halfway through a forward pass.
 */
export const OPTIONAL_OPS = ['wkv4', 'wkv5', 'wkv7', 'rowVecMat'] as const;
export type OptionalOp = (typeof OPTIONAL_OPS)[number];

/** Whether backend `b` implements the optional op `op`. */
export function implementsOp(b: Backend, op: OptionalOp): boolean {
  return typeof b[op] === 'function';
}
