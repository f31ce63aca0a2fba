// Zip archives, read lazily from a ByteSource: the central directory (zip64 included) is parsed
// up front, entry data is located (local header) and read only when asked for. Only STORED
// (uncompressed) entries can be read, which is what torch.save writes; every length and offset in
// the directory is checked against the file size before anything is read or allocated.
// Also: CRC-32 (for checking small entries, and for the writer).

import { RwkvError } from '../errors.ts';
import type { ByteSource } from './source.ts';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const EOCD_SIZE = 22;
const ZIP64_LOCATOR_SIZE = 20;
const ZIP64_EOCD_MIN_SIZE = 56;
const CENTRAL_SIZE = 46;
const LOCAL_SIZE = 30;
const MAX_COMMENT = 0xffff;
const ZIP64_EXTRA_ID = 0x0001;

export const ZIP_STORED = 0;

export interface ZipEntry {
  readonly name: string;
  /** 0 = stored; anything else is compressed and cannot be read here. */
  readonly method: number;
  readonly flags: number;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly size: number;
  /** Offset of the entry's local header. */
  readonly localHeaderOffset: number;
}

export interface ZipArchive {
  readonly file: string;
  /** Entries by name, in central-directory order. */
  readonly entries: ReadonlyMap<string, ZipEntry>;
  /** Where the entry's bytes start in the file (reads and checks its local header). STORED entries only. */
  dataOffset(entry: ZipEntry): number;
  /** `length` bytes of a STORED entry starting at `offset` within the entry. */
  read(entry: ZipEntry, offset?: number, length?: number): Uint8Array;
}

function u16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}
function u32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}
/** u64 LE as a number, or -1 when it is not a safe integer (callers then refuse it). */
function u64(b: Uint8Array, o: number): number {
  const lo = u32(b, o);
  const hi = u32(b, o + 4);
  if (hi >= 0x200000) return -1;
  return hi * 0x100000000 + lo;
}

const decoder = new TextDecoder('utf-8');

/**
 * Parse the central directory of a zip archive. Refuses (FILE_FORMAT) anything inconsistent:
 * no end record, records outside the file, duplicate names, entry counts that do not match.
 */
export function readZip(src: ByteSource, file: string = src.name): ZipArchive {
  const fail = (message: string, expected?: string, actual?: string): RwkvError =>
    new RwkvError('FILE_FORMAT', `zip: ${message}`, {
      file,
      ...(expected !== undefined ? { expected } : {}),
      ...(actual !== undefined ? { actual } : {}),
    });
  const size = src.size;
  if (size < EOCD_SIZE) throw fail('too short to be a zip archive', `>= ${EOCD_SIZE} bytes`, `${size}`);

  // End of central directory: the last 22 bytes, or earlier when the archive has a comment. The
  // record whose comment runs exactly to the end of the file is the real one.
  // Most archives (torch's included) have no comment: try the last 22 bytes before the long scan.
  let tail = src.read(size - EOCD_SIZE, EOCD_SIZE);
  if (u32(tail, 0) !== SIG_EOCD || u16(tail, 20) !== 0)
    tail = src.read(size - Math.min(size, EOCD_SIZE + MAX_COMMENT), Math.min(size, EOCD_SIZE + MAX_COMMENT));
  const tailLen = tail.length;
  const tailStart = size - tailLen;
  let eocdAt = -1;
  for (let i = tailLen - EOCD_SIZE; i >= 0; i--) {
    if (u32(tail, i) === SIG_EOCD && i + EOCD_SIZE + u16(tail, i + 20) === tailLen) {
      eocdAt = i;
      break;
    }
  }
  if (eocdAt < 0) throw fail('no end-of-central-directory record (not a zip file, or truncated)');
  const eocdOffset = tailStart + eocdAt;
  const diskNo = u16(tail, eocdAt + 4);
  const cdDisk = u16(tail, eocdAt + 6);
  let count = u16(tail, eocdAt + 10);
  const countOnDisk = u16(tail, eocdAt + 8);
  let cdSize = u32(tail, eocdAt + 12);
  let cdOffset = u32(tail, eocdAt + 16);
  if (diskNo !== 0 || cdDisk !== 0 || countOnDisk !== count) {
    throw fail('multi-disk (spanned) archives are not supported', 'disk 0 of 1', `disk ${diskNo}, directory on disk ${cdDisk}`);
  }
  let endOfData = eocdOffset;

  // zip64: a locator right before the end record points at the zip64 end record.
  if (eocdOffset >= ZIP64_LOCATOR_SIZE) {
    const loc = src.read(eocdOffset - ZIP64_LOCATOR_SIZE, ZIP64_LOCATOR_SIZE);
    if (u32(loc, 0) === SIG_ZIP64_LOCATOR) {
      const z64Offset = u64(loc, 8);
      const limit = eocdOffset - ZIP64_LOCATOR_SIZE;
      if (z64Offset < 0 || z64Offset + ZIP64_EOCD_MIN_SIZE > limit) {
        throw fail('zip64 end record lies outside the file', `offset <= ${limit - ZIP64_EOCD_MIN_SIZE}`, `${z64Offset}`);
      }
      const rec = src.read(z64Offset, ZIP64_EOCD_MIN_SIZE);
      if (u32(rec, 0) !== SIG_ZIP64_EOCD) throw fail(`no zip64 end record at offset ${z64Offset}`);
      if (u32(rec, 16) !== 0 || u32(rec, 20) !== 0 || u32(loc, 4) !== 0) throw fail('multi-disk (spanned) archives are not supported');
      const n64 = u64(rec, 32);
      const nDisk64 = u64(rec, 24);
      const size64 = u64(rec, 40);
      const off64 = u64(rec, 48);
      if (n64 < 0 || size64 < 0 || off64 < 0 || nDisk64 !== n64) throw fail('zip64 end record has out-of-range fields');
      count = n64;
      cdSize = size64;
      cdOffset = off64;
      endOfData = z64Offset;
    }
  }

  if (cdOffset + cdSize > endOfData) {
    throw fail(
      'central directory lies outside the file',
      `[offset, offset + size) within [0, ${endOfData})`,
      `offset ${cdOffset}, size ${cdSize}`,
    );
  }
  if (count * CENTRAL_SIZE > cdSize) {
    throw fail('central directory is too small for its entry count', `>= ${count * CENTRAL_SIZE} bytes for ${count} entries`, `${cdSize}`);
  }
  const cd = src.read(cdOffset, cdSize);
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    const at = cdOffset + p;
    if (p + CENTRAL_SIZE > cdSize || u32(cd, p) !== SIG_CENTRAL) throw fail(`central directory entry ${i} at offset ${at} is damaged`);
    const flags = u16(cd, p + 8);
    const method = u16(cd, p + 10);
    const crc32 = u32(cd, p + 16);
    let compressedSize = u32(cd, p + 20);
    let uncompressed = u32(cd, p + 24);
    const nameLen = u16(cd, p + 28);
    const extraLen = u16(cd, p + 30);
    const commentLen = u16(cd, p + 32);
    const diskStart = u16(cd, p + 34);
    let localOffset = u32(cd, p + 42);
    const recEnd = p + CENTRAL_SIZE + nameLen + extraLen + commentLen;
    if (recEnd > cdSize) throw fail(`central directory entry ${i} at offset ${at} runs past the directory`);
    const name = decoder.decode(cd.subarray(p + CENTRAL_SIZE, p + CENTRAL_SIZE + nameLen));
    // zip64 extended information: present fields are the ones whose 32-bit value is all ones, in this order
    let e = p + CENTRAL_SIZE + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = u16(cd, e);
      const len = u16(cd, e + 2);
      if (e + 4 + len > extraEnd) throw fail(`entry '${name}': extra field runs past its record`);
      if (id === ZIP64_EXTRA_ID) {
        let q = e + 4;
        const next = (what: string): number => {
          if (q + 8 > e + 4 + len) throw fail(`entry '${name}': zip64 extra field has no ${what}`);
          const v = u64(cd, q);
          q += 8;
          if (v < 0) throw fail(`entry '${name}': zip64 ${what} is out of range`);
          return v;
        };
        if (uncompressed === 0xffffffff) uncompressed = next('size');
        if (compressedSize === 0xffffffff) compressedSize = next('compressed size');
        if (localOffset === 0xffffffff) localOffset = next('header offset');
      }
      e += 4 + len;
    }
    if (diskStart !== 0 && diskStart !== 0xffff) throw fail(`entry '${name}' is on disk ${diskStart}`, 'disk 0');
    if (localOffset + LOCAL_SIZE + compressedSize > cdOffset) {
      throw fail(
        `entry '${name}' lies outside the file's data area`,
        `local header + data within [0, ${cdOffset})`,
        `header at ${localOffset}, ${compressedSize} bytes`,
      );
    }
    if (entries.has(name)) throw fail(`entry '${name}' appears twice (ambiguous archive)`);
    entries.set(name, { name, method, flags, crc32, compressedSize, size: uncompressed, localHeaderOffset: localOffset });
    p = recEnd;
  }

  const dataStarts = new Map<ZipEntry, number>();
  const dataOffset = (entry: ZipEntry): number => {
    const known = dataStarts.get(entry);
    if (known !== undefined) return known;
    const where = `entry '${entry.name}'`;
    if (entry.flags & 1) throw new RwkvError('UNSUPPORTED_FORMAT', `zip: ${where} is encrypted`, { file });
    if (entry.method !== ZIP_STORED) {
      throw new RwkvError('UNSUPPORTED_FORMAT', `zip: ${where} is compressed (method ${entry.method}); only stored entries can be read`, {
        file,
        expected: 'method 0 (stored), as torch.save writes',
        actual: `method ${entry.method}`,
        hint: 're-save the checkpoint with torch.save, or convert it to .safetensors',
      });
    }
    if (entry.compressedSize !== entry.size) {
      throw fail(`${where} is stored but its sizes differ`, `${entry.size}`, `${entry.compressedSize}`);
    }
    const h = src.read(entry.localHeaderOffset, LOCAL_SIZE);
    if (u32(h, 0) !== SIG_LOCAL) throw fail(`${where}: no local header at offset ${entry.localHeaderOffset}`);
    const nameLen = u16(h, 26);
    const extraLen = u16(h, 28);
    const start = entry.localHeaderOffset + LOCAL_SIZE + nameLen + extraLen;
    if (start + entry.size > cdOffset) {
      throw fail(`${where}: data lies outside the file's data area`, `[${start}, ${start + entry.size}) within [0, ${cdOffset})`);
    }
    const localName = decoder.decode(src.read(entry.localHeaderOffset + LOCAL_SIZE, nameLen));
    if (localName !== entry.name) throw fail(`${where}: local header names '${localName}'`, entry.name, localName);
    dataStarts.set(entry, start);
    return start;
  };

  return {
    file,
    entries,
    dataOffset,
    read(entry: ZipEntry, offset = 0, length = entry.size - offset): Uint8Array {
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > entry.size) {
        throw fail(
          `entry '${entry.name}': read outside the entry`,
          `[offset, offset + length) within [0, ${entry.size})`,
          `offset ${offset}, length ${length}`,
        );
      }
      return src.read(dataOffset(entry) + offset, length);
    },
  };
}

// ---- CRC-32 (IEEE 802.3, as zip uses) ----

let crcTable: Uint32Array | undefined;
function table(): Uint32Array {
  if (crcTable !== undefined) return crcTable;
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  crcTable = t;
  return t;
}

/** CRC-32 of `bytes`, continuing from `crc` (the CRC of what came before; 0 to start). */
export function crc32(bytes: Uint8Array, crc = 0): number {
  const t = table();
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
