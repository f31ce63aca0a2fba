// files.ts in the browser build: every function throws PLATFORM_UNAVAILABLE naming itself, so
// a path handed to the library in a page fails with a message that says what to do instead.
// The types are node's (checked against files.ts), so the modules that import it compile alike.

import { RwkvError } from '../errors.ts';
import type * as Node from './files.ts';

/** A stand-in for `name` that throws when called. */
function unavailable<F>(name: string): F {
  return ((...args: unknown[]) => {
    const file = typeof args[0] === 'string' ? args[0] : undefined;
    throw new RwkvError('PLATFORM_UNAVAILABLE', `${name}: there are no files by path in a browser`, {
      ...(file !== undefined ? { file } : {}),
      hint: 'fetch the bytes and pass them instead: RwkvModel.fromBytes(bytes) for a model, WorldTokenizer.fromFileText(vocabText, name) for the World vocabulary',
    });
  }) as F;
}

export const closeSync = unavailable<typeof Node.closeSync>('closeSync');
export const existsSync = unavailable<typeof Node.existsSync>('existsSync');
export const fstatSync = unavailable<typeof Node.fstatSync>('fstatSync');
export const fsyncSync = unavailable<typeof Node.fsyncSync>('fsyncSync');
export const openSync = unavailable<typeof Node.openSync>('openSync');
export const readSync = unavailable<typeof Node.readSync>('readSync');
export const renameSync = unavailable<typeof Node.renameSync>('renameSync');
export const rmSync = unavailable<typeof Node.rmSync>('rmSync');
export const statSync = unavailable<typeof Node.statSync>('statSync');
export const writeSync = unavailable<typeof Node.writeSync>('writeSync');
export const readFile = unavailable<typeof Node.readFile>('readFile');
export const stat = unavailable<typeof Node.stat>('stat');
export const basename = unavailable<typeof Node.basename>('basename');
export const dirname = unavailable<typeof Node.dirname>('dirname');
export const join = unavailable<typeof Node.join>('join');
