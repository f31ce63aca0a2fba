// The tokenizer contract shared by the World, GPT-NeoX 20B and byte tokenizers, and the
// streaming UTF-8 decoder that generation uses to print text as tokens arrive.

/** Which tokenizer family; the model's vocab size picks one (65536 → world, 50277 → 20b, 256 → bytes). */
export type TokenizerKind = 'world' | '20b' | 'bytes';

export interface Tokenizer {
  readonly kind: TokenizerKind;
  /** Number of ids the tokenizer can produce or accept (World: 65536 incl. id 0; bytes: 256). */
  readonly vocabSize: number;
  /** Text → token ids. Lone UTF-16 surrogates are encoded as U+FFFD (as TextEncoder does). */
  encode(text: string): number[];
  /** Token ids → the bytes they stand for (World, bytes) or their UTF-8 text (20B). */
  decodeBytes(ids: ArrayLike<number>): Uint8Array;
  /** Token ids → text; invalid UTF-8 becomes U+FFFD. */
  decode(ids: ArrayLike<number>): string;
}

/**
 * Turns a stream of token bytes into text without ever emitting a broken UTF-8 sequence: an
 * incomplete multi-byte character at the end of a push is held back until its remaining bytes
 * arrive (World tokens can split a character, e.g. an emoji over two tokens). `flush()` ends the
 * stream and returns what was held back (as U+FFFD if still incomplete).
 */
export class Utf8StreamDecoder {
  private decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  push(bytes: Uint8Array): string {
    return this.decoder.decode(bytes, { stream: true });
  }

  flush(): string {
    const rest = this.decoder.decode();
    this.decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
    return rest;
  }
}
