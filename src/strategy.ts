// Strategy strings: which backend runs which layers, and how each layer's weights are stored.
// The grammar and the layer allocation are the official package's (rwkv pip model.py L620-733,
// rwkv_pip_package/README.md L178-203) over our devices; the dtype means weight storage only, because our
// activations are always float32 on the host side of every backend.
//
//   strategy := "auto" | segment ( "->" segment )*
//   segment  := DEVICE " " DTYPE [ "i8" ] [ " *" N [ "+" ] ]
//   DEVICE   := ts | wasm | cuda[:K] | cpu          the registered backends (src/backends/registry.ts);
//                                                   cpu = the best CPU backend ('auto': wasm, else ts)
//   DTYPE    := fp32 | bf16 | fp16
//
// Layers to place: n_layer + 1, the extra one being ln_out + head (that README, L178). Allocation
// (model.py L684-733), walking the segments in order:
//   - `*N` gives the segment N layers; once the running total reaches n_layer + 1 that segment is
//     cut to fit and every later segment gets 0 (and is not opened);
//   - segments without `*N` are free slots: the layers left over are split between them in order,
//     each taking remaining // free_slots_left; anything still left goes to the LAST segment
//     (even one with an explicit `*N`);
//   - `*N+` (stream) gives that segment N layers plus every layer left over, and free slots get
//     nothing. The official package keeps the streamed layers' big matrices in pinned host memory
//     and copies them to the GPU on every call; our CPU backends hold every weight in memory
//     anyway, so a streamed layer is simply resident here (`LayerPlacement.stream` records it for
//     a device backend that may stream).
// Deviation: the official loop hands `remaining // free_slots` to every segment whose count is
// still 0, explicit `*0` segments included (and divides by zero when it reaches one after the
// last free slot); here an explicit `*0` always gets 0 layers.
//
// What DTYPE means for a segment's weights (our meaning; the official storage choice is model.py
// L817-849, its int8 scheme L818-847):
//   fp32    every matrix float32
//   bf16    matrices in bfloat16 (values rounded to nearest even; exact for bf16 checkpoints)
//   fp16    matrices in IEEE half (rounded; exact for f16 checkpoints)
//   …i8     the linear layers (key/value/receptance/gate/output, ffn, head) in the official uint8
//           scheme with per-row and per-column offset and scale; the LoRA factors (w1/w2, a1/a2,
//           v1/v2, g1/g2, v6 time_maa/time_decay LoRAs, DeepEmbed s1/s2) keep the DTYPE prefix's
//           storage, as the official package keeps `_w1/_w2` in the activation dtype
// Never compact: the embedding tables (looked up, not multiplied) and every vector.
// The head follows the segment that holds layer n_layer (so it is int8 iff that segment is i8).

import { type Backend, OPTIONAL_OPS, type WeightStorage, implementsOp } from './backends/backend.ts';
import { AUTO_SUMMARY, BACKENDS, type RegisteredBackend } from './backends/registry.ts';
import { createBackend, selectBackend } from './backends/select.ts';
import { RwkvError } from './errors.ts';

/** A strategy's devices: every registered backend, and `cpu` (the best CPU backend, as 'auto' picks it). */
export type StrategyDevice = RegisteredBackend | 'cpu';
export const STRATEGY_DEVICES: readonly StrategyDevice[] = [...BACKENDS.map((e) => e.name), 'cpu'];
/** The devices that take an ordinal (`cuda:K`). */
const ORDINAL_DEVICES: readonly string[] = BACKENDS.filter((e) => 'ordinal' in e && e.ordinal).map((e) => e.name);
export const STRATEGY_DTYPES = ['fp32', 'bf16', 'fp16'] as const;
export type StrategyDType = (typeof STRATEGY_DTYPES)[number];

export interface StrategySegment {
  /** As written; `cpu` is resolved to a backend only when the strategy is opened. */
  readonly device: StrategyDevice;
  /** `cuda:K` → K. */
  readonly deviceIndex?: number;
  readonly dtype: StrategyDType;
  /** `…i8`: the linear layers in the official uint8 scheme. */
  readonly i8: boolean;
  /** `*N`; undefined for a free slot. */
  readonly layers?: number;
  /** `*N+`. */
  readonly stream: boolean;
  /** The segment in normal form, e.g. "wasm fp32i8 *8". */
  readonly text: string;
}

export interface Strategy {
  /** Normal form: segments joined by " -> ", or "auto". */
  readonly text: string;
  /** "auto": the fastest available CPU backend, weights as the `weights: 'auto'` load option. */
  readonly auto: boolean;
  readonly segments: readonly StrategySegment[];
}

/** `DEVICE` in the grammar: "ts | wasm | cuda[:K] | cpu". */
export const STRATEGY_DEVICE_CHOICES = STRATEGY_DEVICES.map((d) => (ORDINAL_DEVICES.includes(d) ? `${d}[:K]` : d)).join(' | ');

export const STRATEGY_GRAMMAR = `strategy := "auto" | SEGMENT [ "->" SEGMENT ]...
  SEGMENT := DEVICE DTYPE[i8] [*N[+]]
  DEVICE  := ${STRATEGY_DEVICE_CHOICES} (cpu: the best CPU backend here, ${AUTO_SUMMARY})
  DTYPE   := fp32 | bf16 | fp16 (weight storage; i8 = int8 linear layers)
  *N      := this segment runs the next N layers (the model has n_layer + 1: the last is the head);
             segments without *N share the rest; *N+ takes every layer left over
examples: "wasm fp32"  "wasm bf16"  "wasm fp32i8"  "ts fp32"  "wasm bf16 *8 -> ts fp32"
          "cuda fp16 *20 -> wasm fp32i8"  "auto"`;

/** A device of the grammar, as a regular expression: "ts|wasm|cuda(?::\d+)?|cpu". */
const DEVICE_RE = STRATEGY_DEVICES.map((d) => (ORDINAL_DEVICES.includes(d) ? `${d}(?::\\d+)?` : d)).join('|');

/** The official regex (model.py L620) with our devices and dtypes, after whitespace normalisation. */
const STRATEGY_RE = new RegExp(`^(?:(?:^|->) *(?:${DEVICE_RE}) (?:fp32|bf16|fp16)(?:i8)?(?: \\*\\d+\\+?)? *)+$`);

function invalid(text: string, why: string): RwkvError {
  return new RwkvError('INVALID_ARGUMENT', `invalid strategy "${text}": ${why}\n${STRATEGY_GRAMMAR}`, { argument: 'strategy' });
}

/** Parse a strategy string; throws an RwkvError that shows the grammar when it is not one. */
export function parseStrategy(text: string): Strategy {
  if (typeof text !== 'string') throw invalid(String(text), 'not a string');
  const trimmed = text.trim();
  if (trimmed === 'auto') return { text: 'auto', auto: true, segments: [] };
  if (trimmed === '') throw invalid(text, 'empty');
  // normalise: one space between tokens, " -> " between segments (model.py L624 normalises
  // the spaces around "->"; we also accept runs of spaces and tabs inside a segment)
  const parts = trimmed.split('->').map((s) =>
    s
      .trim()
      .split(/\s+/)
      .filter((t) => t !== ''),
  );
  const segments = parts.map((tokens, i) => parseSegment(text, tokens, i, parts.length));
  const normal = segments.map((s) => s.text).join(' -> ');
  // the per-token checks above give the precise message; the regex is the grammar's last word
  if (!STRATEGY_RE.test(normal)) throw invalid(text, `"${normal}" does not match the grammar`);
  return { text: normal, auto: false, segments };
}

/** "ts, wasm, cuda, cuda:K or cpu". */
function deviceList(): string {
  const all = STRATEGY_DEVICES.flatMap((d) => (ORDINAL_DEVICES.includes(d) ? [d, `${d}:K`] : [d]));
  return `${all.slice(0, -1).join(', ')} or ${all.at(-1)}`;
}

function parseSegment(text: string, tokens: string[], i: number, n: number): StrategySegment {
  const where = n > 1 ? `segment ${i + 1} ("${tokens.join(' ')}")` : `"${tokens.join(' ')}"`;
  if (tokens.length === 0) throw invalid(text, `segment ${i + 1} is empty (a "->" with nothing on one side)`);
  if (tokens[0] === 'auto') throw invalid(text, '"auto" is a whole strategy, not a segment');
  if (tokens.length === 1) throw invalid(text, `${where} needs a device and a dtype, e.g. "wasm fp32"`);
  if (tokens.length > 3) throw invalid(text, `${where} has too many parts (DEVICE DTYPE [*N])`);
  const [dev, dt, count] = tokens as [string, string, string | undefined];

  const m = /^([a-z0-9]+)(?::(\d+))?$/.exec(dev);
  const device = STRATEGY_DEVICES.find((d) => d === m?.[1]);
  if (m === null || device === undefined || (m[2] !== undefined && !ORDINAL_DEVICES.includes(device))) {
    const hint = dev === 'mps' || dev === 'dml' ? " (the official package's torch devices are not available here)" : '';
    throw invalid(text, `${where}: unknown device "${dev}"; expected ${deviceList()}${hint}`);
  }

  const d = /^(fp32|bf16|fp16)(i8|i4|i3)?$/.exec(dt);
  if (d === null)
    throw invalid(text, `${where}: unknown dtype "${dt}"; expected fp32, bf16 or fp16, optionally followed by i8 (e.g. fp32i8)`);
  if (d[2] === 'i4' || d[2] === 'i3') {
    // model.py L694-698 accepts these and silently runs without quantisation; we say so instead
    throw invalid(text, `${where}: ${d[2]} is not supported (the official package accepts it but ignores it); use ${d[1]}i8 or ${d[1]}`);
  }
  const dtype = d[1] as StrategyDType;
  const i8 = d[2] === 'i8';

  let layers: number | undefined;
  let stream = false;
  if (count !== undefined) {
    const c = /^\*(\d+)(\+?)$/.exec(count);
    if (c === null) throw invalid(text, `${where}: "${count}" is not a layer count; write *N or *N+ (e.g. *8)`);
    layers = Number(c[1]);
    if (!Number.isSafeInteger(layers)) throw invalid(text, `${where}: layer count ${c[1]} is too large`);
    stream = c[2] === '+';
  }
  const normal = `${dev} ${dt}${layers !== undefined ? ` *${layers}${stream ? '+' : ''}` : ''}`;
  return {
    device,
    ...(m[2] !== undefined ? { deviceIndex: Number(m[2]) } : {}),
    dtype,
    i8,
    ...(layers !== undefined ? { layers } : {}),
    stream,
    text: normal,
  };
}

/**
 * How many of the n_layer + 1 layers each segment gets (model.py L684-733; see the file header).
 * Returns one count per segment, summing to nLayer + 1. Also the number of streamed layers.
 */
export function allocateLayers(strategy: Strategy, nLayer: number): { counts: number[]; streamSegment: number; streamCount: number } {
  if (!Number.isInteger(nLayer) || nLayer < 0) {
    throw new RwkvError('INVALID_ARGUMENT', 'n_layer must be a non-negative integer', { argument: 'nLayer', actual: String(nLayer) });
  }
  const segs = strategy.auto ? [{ layers: undefined, stream: false }] : strategy.segments;
  const toAllocate = nLayer + 1;
  const counts = segs.map(() => 0);
  const free: number[] = []; // indices of the free slots, in order
  let allocated = 0;
  let streamSegment = -1;
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!;
    if (s.layers === undefined) {
      free.push(i);
      continue;
    }
    counts[i] = s.layers;
    allocated += s.layers;
    if (allocated >= toAllocate) {
      // cut this segment to fit; later segments get 0 (free slots after it included)
      counts[i]! -= allocated - toAllocate;
      allocated = toAllocate;
      break;
    }
    if (s.stream) streamSegment = i;
  }
  let streamCount = 0;
  if (streamSegment < 0) {
    // free slots split the rest in order: remaining // free slots left
    for (let k = 0; k < free.length && allocated < toAllocate; k++) {
      const n = Math.floor((toAllocate - allocated) / (free.length - k));
      counts[free[k]!] = n;
      allocated += n;
    }
    // any leftover goes to the last segment
    if (allocated < toAllocate) counts[segs.length - 1]! += toAllocate - allocated;
  } else if (allocated < toAllocate) {
    streamCount = toAllocate - allocated;
    counts[streamSegment]! += streamCount;
  }
  return { counts, streamSegment, streamCount };
}

export interface LayerPlacement {
  /** Index into strategy.segments (0 for "auto"). */
  readonly segment: number;
  /** A layer the official package would stream (`*N+`); resident on our CPU backends. */
  readonly stream: boolean;
}

/** The segment of each of the n_layer + 1 layers (index n_layer = ln_out + head). */
export function placeLayers(strategy: Strategy, nLayer: number): LayerPlacement[] {
  const { counts, streamSegment, streamCount } = allocateLayers(strategy, nLayer);
  const out: LayerPlacement[] = [];
  counts.forEach((n, segment) => {
    for (let k = 0; k < n; k++) out.push({ segment, stream: segment === streamSegment && k >= n - streamCount });
  });
  return out;
}

/** Storage for a segment's matrices by DTYPE (the non-i8 part). */
export const DTYPE_STORAGE: Readonly<Record<StrategyDType, WeightStorage>> = { fp32: 'f32', bf16: 'bf16', fp16: 'f16' };

/**
 * The storage a runtime weight gets on a segment (see the file header). `key` is the runtime
 * name (src/model/prepare.ts): matrices are 2-D; the linear layers end in `.weight`; the
 * embedding tables (`emb.weight`, DeepEmbed `ffn.s_emb.weight`) are looked up, never compact.
 */
export function weightStorage(key: string, shape: readonly number[], seg: Pick<StrategySegment, 'dtype' | 'i8'>): WeightStorage {
  if (shape.length !== 2 || key.endsWith('emb.weight')) return 'f32';
  const linear = key.endsWith('.weight');
  if (linear && seg.i8) return 'i8';
  return DTYPE_STORAGE[seg.dtype];
}

// ---------- opening backends ----------

export interface OpenOptions {
  /** Worker threads for backends that use them (wasm); default: the backend's own default. */
  threads?: number;
  /** Device ordinal (`cuda:K`). */
  device?: number;
}

/**
 * A backend for one device: a registered backend by name (src/backends/registry.ts), or `cpu` =
 * the fastest CPU backend that works here (select.ts 'auto': wasm, else ts). Unavailable devices
 * throw BACKEND_UNAVAILABLE (CUDA_UNAVAILABLE for cuda) naming what is missing.
 */
export function openDevice(device: StrategyDevice, options: OpenOptions = {}): Promise<Backend> {
  return createBackend(device === 'cpu' ? 'auto' : device, options);
}

/**
 * The synchronous form of openDevice, for `RwkvModel.fromCheckpoint`: select.ts's
 * `selectBackend` (`cpu` = its 'auto'). Backends that can only start asynchronously throw there;
 * `RwkvModel.load` and `RwkvModel.create` open them asynchronously.
 */
export function openDeviceSync(device: StrategyDevice): Backend {
  return selectBackend(device === 'cpu' ? 'auto' : device);
}

/** A strategy with a backend for each segment that got layers (null for the others). */
export interface OpenedStrategy {
  readonly strategy: Strategy;
  readonly nLayer: number;
  readonly placement: readonly LayerPlacement[];
  readonly backends: readonly (Backend | null)[];
}

/**
 * Parse (if needed), allocate the layers of a model with `nLayer` blocks, and open one backend
 * per segment that got layers. Segments on the same device get separate backend instances (so
 * e.g. "wasm fp32 *12 -> wasm fp32" splits a model over two WASM memories).
 */
export async function openStrategy(strategy: string | Strategy, nLayer: number, options: OpenOptions = {}): Promise<OpenedStrategy> {
  const s = typeof strategy === 'string' ? parseStrategy(strategy) : strategy;
  const placement = placeLayers(s, nLayer);
  const backends: (Backend | null)[] = [];
  const devices = devicesToOpen(s, placement);
  for (let i = 0; i < devices.length; i++) {
    const device = devices[i]!;
    const index = s.auto ? undefined : s.segments[i]!.deviceIndex;
    backends.push(device === null ? null : await openDevice(device, index !== undefined ? { ...options, device: index } : options));
  }
  return { strategy: s, nLayer, placement, backends };
}

/** openStrategy with openDeviceSync. */
export function openStrategySync(strategy: string | Strategy, nLayer: number): OpenedStrategy {
  const s = typeof strategy === 'string' ? parseStrategy(strategy) : strategy;
  const placement = placeLayers(s, nLayer);
  const backends = devicesToOpen(s, placement).map((device) => (device === null ? null : openDeviceSync(device)));
  return { strategy: s, nLayer, placement, backends };
}

/** The device of each segment that got layers, null for the others ("auto" = one cpu segment). */
function devicesToOpen(s: Strategy, placement: readonly LayerPlacement[]): (StrategyDevice | null)[] {
  if (s.auto) return ['cpu'];
  const used = new Set(placement.map((p) => p.segment));
  return s.segments.map((seg, i) => (used.has(i) ? seg.device : null));
}

/**
 * Release the backends of an opened strategy (backends with workers, like wasm, have an async
 * `dispose`; the others need nothing).
 */
export async function closeStrategy(opened: Pick<OpenedStrategy, 'backends'>): Promise<void> {
  for (const b of new Set(opened.backends)) await (b as { dispose?: () => unknown } | null)?.dispose?.();
}

/**
 * A backend by its select.ts name ('auto', 'ts', 'wasm', …), started asynchronously where it
 * needs that (the `backend` load option of RwkvModel.load / create).
 */
export function createNamedBackend(name: string, options: OpenOptions = {}): Promise<Backend> {
  return createBackend(name, options);
}

/**
 * One line per segment: what runs where (for `rwkv info` and the bench header), naming the
 * optional ops a segment's backend leaves out (a model that needs one refuses to load).
 */
export function describePlacement(opened: OpenedStrategy): string[] {
  const { strategy, placement, backends, nLayer } = opened;
  const lines: string[] = [];
  const segs = strategy.auto ? [{ text: 'auto' }] : strategy.segments;
  segs.forEach((seg, i) => {
    const layers = placement.flatMap((p, l) => (p.segment === i ? [l] : []));
    if (layers.length === 0) {
      lines.push(`${seg.text}: no layers`);
      return;
    }
    const range = layers.length === 1 ? `${layers[0]}` : `${layers[0]}-${layers.at(-1)}`;
    const head = layers.includes(nLayer) ? ' (incl. head)' : '';
    const streamed = layers.filter((l) => placement[l]!.stream).length;
    const b = backends[i];
    const missing = b ? OPTIONAL_OPS.filter((op) => !implementsOp(b, op)) : [];
    lines.push(
      `${seg.text}: layers ${range}${head}${streamed > 0 ? `, ${streamed} streamed (resident here)` : ''} on ${b?.caps.name ?? '?'}` +
        (missing.length > 0 ? ` (without ${missing.join(', ')})` : ''),
    );
  });
  return lines;
}
