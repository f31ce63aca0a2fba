// The allocator of the WASM backend's shared memory. JS owns the layout; kernels only get byte
// pointers. Blocks are 64-byte aligned (a cache line; v128 loads want 16). Best fit over a free
// list kept sorted by address, neighbours coalesced on free, a free block at the top of the heap
// folds back into the top. So a workload that allocates and frees the same sizes every call (the
// model's per-forward scratch) reaches a fixed footprint after its first call: memory after 10⁵
// tokens equals memory after 10.
//
// wasm32 memory is capped at 65536 pages (4 GiB); growing past it throws a typed error.

import { RwkvError } from '../../errors.ts';

export const ALIGN = 64;
const PAGE = 65536;
/** wasm32's limit: 65536 pages of 64 KiB. */
export const MAX_BYTES = 65536 * PAGE;

const up = (n: number, a: number) => Math.ceil(n / a) * a;

export class Arena {
  /** Free blocks [ptr, size], sorted by ptr, never adjacent (coalesced). */
  private readonly freeList: { ptr: number; size: number }[] = [];
  private readonly used = new Map<number, number>();
  /** First byte above every block. */
  private top: number;
  /** Bytes handed out and not freed. */
  inUse = 0;

  constructor(
    private readonly memory: WebAssembly.Memory,
    /** The first byte the arena may use (below it: the backend's fixed control block). */
    base: number,
    /** Called after the memory grew (views over the old buffer are stale). */
    private readonly onGrow: () => void = () => {},
  ) {
    this.top = up(base, ALIGN);
  }

  /** Bytes of the memory (grown so far). */
  get capacity(): number {
    return this.memory.buffer.byteLength;
  }

  /** Highest address ever handed out (the footprint). */
  get highWater(): number {
    return this.top;
  }

  alloc(bytes: number, label: string): number {
    const size = up(Math.max(bytes, 1), ALIGN);
    let best = -1;
    for (let i = 0; i < this.freeList.length; i++) {
      const b = this.freeList[i]!;
      if (b.size >= size && (best < 0 || b.size < this.freeList[best]!.size)) {
        best = i;
        if (b.size === size) break;
      }
    }
    let ptr: number;
    if (best >= 0) {
      const b = this.freeList[best]!;
      ptr = b.ptr;
      if (b.size === size) this.freeList.splice(best, 1);
      else {
        b.ptr += size;
        b.size -= size;
      }
    } else {
      ptr = this.top;
      this.ensure(ptr + size, label);
      this.top = ptr + size;
    }
    this.used.set(ptr, size);
    this.inUse += size;
    return ptr;
  }

  free(ptr: number): void {
    const size = this.used.get(ptr);
    if (size === undefined) throw new RwkvError('INVALID_ARGUMENT', `wasm arena: free of a block that is not allocated (${ptr})`);
    this.used.delete(ptr);
    this.inUse -= size;
    // insert sorted, then merge with the neighbours
    let lo = 0;
    let hi = this.freeList.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.freeList[mid]!.ptr < ptr) lo = mid + 1;
      else hi = mid;
    }
    this.freeList.splice(lo, 0, { ptr, size });
    const next = this.freeList[lo + 1];
    if (next !== undefined && ptr + size === next.ptr) {
      this.freeList[lo]!.size += next.size;
      this.freeList.splice(lo + 1, 1);
    }
    const prev = this.freeList[lo - 1];
    if (prev !== undefined && prev.ptr + prev.size === ptr) {
      prev.size += this.freeList[lo]!.size;
      this.freeList.splice(lo, 1);
      lo--;
    }
    // a free block that ends at the top is returned to the top
    const last = this.freeList[this.freeList.length - 1];
    if (last !== undefined && last.ptr + last.size === this.top) {
      this.top = last.ptr;
      this.freeList.pop();
    }
  }

  /** Grow the memory so that [0, end) is addressable. */
  private ensure(end: number, label: string): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    if (end > MAX_BYTES) {
      throw new RwkvError('BACKEND_UNAVAILABLE', 'the weights do not fit in WASM memory (wasm32 is capped at 4 GiB)', {
        tensor: label,
        expected: `at most ${MAX_BYTES} bytes in one WASM memory`,
        actual: `${end} bytes needed (${this.inUse} in use)`,
        hint: 'store the weights as bf16 or int8 (strategy "wasm bf16" / "wasm fp32i8"), or split the model over several WASM memories, one per strategy segment (e.g. "wasm fp32 *12 -> wasm fp32")',
      });
    }
    try {
      this.memory.grow(Math.ceil((end - have) / PAGE));
    } catch (e) {
      throw new RwkvError('BACKEND_UNAVAILABLE', 'the WASM memory cannot grow (the system refused the allocation)', {
        tensor: label,
        expected: `${end} bytes`,
        actual: `${have} bytes (${(e as Error).message})`,
        hint: 'store the weights as bf16 or int8 (strategy "wasm bf16" / "wasm fp32i8") to need less memory',
      });
    }
    this.onGrow();
  }
}
