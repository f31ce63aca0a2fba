// A ByteSource that counts what a reader asks of it: the reader tests bound reads by the file's
// size instead of timing them (no wall-clock assertion; vitest's per-test timeout guards hangs).

import { type ByteSource, MemorySource } from '../../src/io/source.ts';

export class CountingSource implements ByteSource {
  readonly inner: ByteSource;
  /** Bytes returned by all reads together. */
  bytesRead = 0;
  /** Number of read calls. */
  reads = 0;
  /** The longest single read asked for (counted before the range check). */
  largestRead = 0;
  constructor(input: Uint8Array | ByteSource, name?: string) {
    this.inner = input instanceof Uint8Array ? new MemorySource(input, name) : input;
  }
  get name(): string {
    return this.inner.name;
  }
  get size(): number {
    return this.inner.size;
  }
  read(offset: number, length: number): Uint8Array {
    this.reads++;
    this.largestRead = Math.max(this.largestRead, length);
    const out = this.inner.read(offset, length);
    this.bytesRead += out.length;
    return out;
  }
}
