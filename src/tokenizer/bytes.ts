// The byte-level tokenizer of the tiny test models (vocab 256): id = byte value of the UTF-8 text.
// Lone UTF-16 surrogates are encoded as U+FFFD, as TextEncoder does.

import { RwkvError } from '../errors.ts';
import type { Tokenizer } from './tokenizer.ts';

export const BYTES_VOCAB_SIZE = 256;

export class BytesTokenizer implements Tokenizer {
  readonly kind = 'bytes' as const;
  readonly vocabSize = BYTES_VOCAB_SIZE;
  private readonly encoder = new TextEncoder();

  encode(text: string): number[] {
    return Array.from(this.encoder.encode(text));
  }

  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    const out = new Uint8Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= BYTES_VOCAB_SIZE) {
        throw new RwkvError('INVALID_TOKEN', `token id ${id} is not a byte`, {
          expected: `an integer in [0, ${BYTES_VOCAB_SIZE})`,
          actual: String(id),
        });
      }
      out[i] = id;
    }
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(this.decodeBytes(ids));
  }
}
