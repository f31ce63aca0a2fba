// The file system and path functions the readers and writers use, in one place. In Node, Deno
// and Bun they are node:fs and node:path. The browser build (scripts/build-browser.mjs) swaps
// this module for files.browser.ts, whose functions throw PLATFORM_UNAVAILABLE: a page has no
// files by path, it hands the library bytes (parseCheckpoint(bytes), RwkvModel.fromBytes).

export { closeSync, existsSync, fstatSync, fsyncSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
export { readFile, stat } from 'node:fs/promises';
export { basename, dirname, join } from 'node:path';
