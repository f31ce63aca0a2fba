// Byte sources: where a reader's bytes come from. Readers parse headers from a source and read
// each tensor's bytes only when the tensor's data is asked for, so a model file is never held in
// memory whole. Every read is range-checked: asking past the end is a FILE_FORMAT error naming
// the file, the offset and the length (a truncated file, or a header that lies).

import { closeSync, fstatSync, openSync, readSync, statSync } from '../platform/files.ts';
import { RwkvError } from '../errors.ts';

export interface ByteSource {
  /** The file name (for messages), or a description of the memory it reads. */
  readonly name: string;
  /** Total size in bytes. */
  readonly size: number;
  /** Exactly `length` bytes starting at `offset` (a fresh copy or a view the caller may keep). */
  read(offset: number, length: number): Uint8Array;
}

function checkRange(src: ByteSource, offset: number, length: number, what?: string): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > src.size) {
    throw new RwkvError('FILE_FORMAT', `${what ?? 'data'} lies outside the file (truncated or damaged)`, {
      file: src.name,
      expected: `bytes [${offset}, ${offset + length}) within ${src.size}`,
      actual: `file of ${src.size} bytes`,
    });
  }
}

/** Bytes already in memory. `read` returns views (no copy). */
export class MemorySource implements ByteSource {
  readonly size: number;
  constructor(
    private readonly bytes: Uint8Array,
    readonly name = '(memory)',
  ) {
    this.size = bytes.length;
  }
  read(offset: number, length: number): Uint8Array {
    checkRange(this, offset, length);
    return this.bytes.subarray(offset, offset + length);
  }
}

/** The largest typed array every runtime allocates (Bun caps ArrayBuffers at 4 GiB). */
const MAX_BUFFER = 2 ** 32 - 1;

/** The largest single readSync we issue (Node caps one read at 2 GiB − 1). */
const MAX_READ = 1 << 30;

/**
 * A file on disk, read with positioned reads (pread). The file is opened for each read and
 * closed again, so a lazy tensor never keeps a descriptor open; a file whose size changed since
 * it was opened is refused rather than read inconsistently.
 */
export class FileSource implements ByteSource {
  readonly size: number;
  constructor(readonly name: string) {
    this.size = statSync(name).size;
  }
  read(offset: number, length: number, what?: string): Uint8Array {
    checkRange(this, offset, length, what);
    if (length > MAX_BUFFER) {
      throw new RwkvError(
        'UNSUPPORTED_FORMAT',
        `${what ?? 'a tensor'} of ${length} bytes is larger than one buffer can hold here (4 GiB)`,
        {
          file: this.name,
          expected: `<= ${MAX_BUFFER} bytes`,
          actual: `${length}`,
        },
      );
    }
    const out = new Uint8Array(length);
    const fd = openSync(this.name, 'r');
    try {
      if (fstatSync(fd).size !== this.size) {
        throw new RwkvError('FILE_FORMAT', 'the file changed while it was being read', { file: this.name });
      }
      let done = 0;
      while (done < length) {
        const n = readSync(fd, out, done, Math.min(MAX_READ, length - done), offset + done);
        if (n <= 0)
          throw new RwkvError('FILE_FORMAT', 'unexpected end of file', { file: this.name, expected: `${length} bytes at ${offset}` });
        done += n;
      }
    } finally {
      closeSync(fd);
    }
    return out;
  }
}
