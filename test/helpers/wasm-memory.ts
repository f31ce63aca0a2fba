// A bump allocator over a (shared, by default) WebAssembly.Memory, for tests and benches that drive the WASM
// kernels directly (the way the WASM backend does: JS owns the layout, kernels get byte offsets).
// Every block is 16-byte aligned and followed by at least GUARD_BYTES of a fill pattern;
// `checkGuards()` reports any block whose guard bytes a kernel overwrote (a SIMD loop that runs
// past its end, a tail that writes the wrong lane).

import { createMemory } from '../../src/backends/wasm/module.ts';

const ALIGN = 16;
const GUARD_BYTES = 32;
const GUARD = 0xa5;
const PAGE = 65536;

interface Block {
  ptr: number;
  bytes: number;
  label: string;
}

export class WasmArena {
  readonly memory: WebAssembly.Memory;
  private top = ALIGN;
  private blocks: Block[] = [];

  /** `shared`: a shared memory (as the backend uses with threads), else a plain one. */
  constructor(initialPages = 16, shared = true) {
    this.memory = createMemory(shared, initialPages);
  }

  /** The current bytes of the memory (a new view after every grow). */
  private bytes(): Uint8Array {
    return new Uint8Array(this.memory.buffer);
  }

  /** n float32 slots (uninitialised: filled with the guard pattern); returns the byte offset. */
  alloc(n: number, label = 'block'): number {
    const bytes = n * 4;
    const ptr = this.top;
    const end = ptr + bytes + GUARD_BYTES;
    this.top = Math.ceil(end / ALIGN) * ALIGN;
    const have = this.memory.buffer.byteLength;
    if (this.top > have) this.memory.grow(Math.ceil((this.top - have) / PAGE));
    this.bytes().fill(GUARD, ptr, this.top);
    this.blocks.push({ ptr, bytes, label });
    return ptr;
  }

  /** A copy of `data` in the memory; returns its byte offset. */
  put(data: Float32Array, label = 'block'): number {
    const ptr = this.alloc(data.length, label);
    this.view(ptr, data.length).set(data);
    return ptr;
  }

  /** A live float32 view of n values at ptr (invalid after the memory grows). */
  view(ptr: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, n);
  }

  /** A copy of n float32 values at ptr. */
  get(ptr: number, n: number): Float32Array {
    return this.view(ptr, n).slice();
  }

  /** The labels of blocks whose guard bytes were overwritten (empty when none). */
  checkGuards(): string[] {
    const mem = this.bytes();
    const bad: string[] = [];
    for (let b = 0; b < this.blocks.length; b++) {
      const { ptr, bytes, label } = this.blocks[b]!;
      const next = b + 1 < this.blocks.length ? this.blocks[b + 1]!.ptr : this.top;
      for (let i = ptr + bytes; i < next; i++) {
        if (mem[i] !== GUARD) {
          bad.push(`${label} (byte ${i - ptr - bytes} past its end)`);
          break;
        }
      }
    }
    return bad;
  }

  /** Forget every block (the memory keeps its size). */
  reset(): void {
    this.top = ALIGN;
    this.blocks = [];
  }
}
