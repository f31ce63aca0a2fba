// Output formats of `rwkv convert`, chosen by the output file's extension (or by name).

import { extname } from 'node:path';
import { RwkvError } from '../errors.ts';
import { ggufWriter } from './gguf-write.ts';
import { pthWriter } from '../io/pth-write.ts';
import { rwkvCppWriter } from '../io/rwkvcpp-write.ts';
import { safetensorsWriter } from '../io/safetensors-write.ts';
import type { CheckpointWriter } from '../io/write.ts';

export const WRITERS: Readonly<Record<string, CheckpointWriter>> = {
  safetensors: safetensorsWriter,
  'rwkv.cpp': rwkvCppWriter,
  pth: pthWriter,
  gguf: ggufWriter,
};

const BY_EXTENSION: Readonly<Record<string, string>> = {
  '.safetensors': 'safetensors',
  '.pth': 'pth',
  '.pt': 'pth',
  '.bin': 'rwkv.cpp',
  '.gguf': 'gguf',
};

/** The writer for `format` (a name) or, when undefined, for `file`'s extension. */
export function writerFor(file: string, format?: string): CheckpointWriter {
  const name = format ?? BY_EXTENSION[extname(file).toLowerCase()];
  const writer = name !== undefined ? WRITERS[name] : undefined;
  if (writer === undefined) {
    throw new RwkvError(
      'UNSUPPORTED_FORMAT',
      name === undefined ? 'cannot tell the output format from the file name' : `cannot write ${name} files`,
      {
        file,
        expected: `one of ${Object.keys(WRITERS).join(', ')} (extensions ${Object.keys(BY_EXTENSION)
          .filter((e) => WRITERS[BY_EXTENSION[e]!])
          .join(', ')})`,
        actual: name ?? extname(file) ?? '(none)',
      },
    );
  }
  return writer;
}
