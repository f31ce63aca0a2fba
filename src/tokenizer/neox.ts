// The GPT-NeoX 20B tokenizer (20B_tokenizer.json, BPE over GPT-2 byte-level symbols) of the RWKV
// "Pile" and "Raven" models, through @huggingface/tokenizers, which is imported only when a 20B
// tokenizer is actually loaded.
//
// Encoding is the library's (NFC normalisation first, so decode(encode(s)) is NFC(s); lone
// surrogates become U+FFFD before encoding). Decoding is done here, per token, from the byte-level
// symbols back to bytes, so that a token holding part of a UTF-8 character gives exactly its bytes
// (the library decodes whole strings). Special tokens (<|endoftext|> = 0, <|padding|> = 1) decode
// to no bytes, as Python `tokenizers` does by default (skip_special_tokens=True).

import { readFile } from '../platform/files.ts';
import { RwkvError } from '../errors.ts';
import type { Tokenizer } from './tokenizer.ts';

/** The vocabulary size of 20B_tokenizer.json (50254 BPE tokens + 23 added ones). */
export const NEOX_VOCAB_SIZE = 50277;
export const NEOX_TOKENIZER_FILE = '20B_tokenizer.json';

interface HfTokenizer {
  encode(text: string, options?: { add_special_tokens?: boolean }): { ids: number[] };
}

interface TokenizerJson {
  model?: { type?: string; vocab?: Record<string, number> };
  added_tokens?: { id: number; content: string; special?: boolean }[];
}

/**
 * GPT-2's bytes_to_unicode: printable bytes stand for themselves, the other 68 (0..32, 127..160,
 * 173) for U+0100 onwards in byte order. Returns the inverse: code point → byte.
 */
function unicodeToByte(): Map<number, number> {
  const m = new Map<number, number>();
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    m.set(printable ? b : 256 + extra++, b);
  }
  return m;
}

export class NeoxTokenizer implements Tokenizer {
  readonly kind = '20b' as const;
  readonly vocabSize: number;
  private readonly bytesOf: (Uint8Array | undefined)[];

  private constructor(
    private readonly hf: HfTokenizer,
    bytesOf: (Uint8Array | undefined)[],
    readonly source: string,
  ) {
    this.bytesOf = bytesOf;
    this.vocabSize = bytesOf.length;
  }

  /** Reads a Hugging Face tokenizer.json (byte-level BPE, such as 20B_tokenizer.json). */
  static async fromFile(file: string): Promise<NeoxTokenizer> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new RwkvError('FILE_NOT_FOUND', `cannot read the tokenizer file (${(e as Error).message})`, { file });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new RwkvError('FILE_FORMAT', `not JSON (${(e as Error).message})`, { file, expected: 'a Hugging Face tokenizer.json' });
    }
    return NeoxTokenizer.fromJson(json, file);
  }

  static async fromJson(json: unknown, source = '(tokenizer.json)'): Promise<NeoxTokenizer> {
    const j = json as TokenizerJson;
    const vocab = j?.model?.vocab;
    if (typeof json !== 'object' || json === null || j.model?.type !== 'BPE' || typeof vocab !== 'object' || vocab === null) {
      throw new RwkvError('FILE_FORMAT', 'not a byte-level BPE tokenizer.json', {
        file: source,
        expected: 'model.type "BPE" with a model.vocab object',
        actual: `model.type ${JSON.stringify(j?.model?.type)}`,
      });
    }
    const u2b = unicodeToByte();
    const bytesOf: (Uint8Array | undefined)[] = [];
    for (const [token, id] of Object.entries(vocab)) {
      const bytes = new Uint8Array(token.length);
      let n = 0;
      for (const ch of token) {
        const b = u2b.get(ch.codePointAt(0)!);
        if (b === undefined) {
          throw new RwkvError('FILE_FORMAT', `token ${id} ${JSON.stringify(token)} is not made of byte-level symbols`, { file: source });
        }
        bytes[n++] = b;
      }
      bytesOf[id] = bytes.subarray(0, n);
    }
    const utf8 = new TextEncoder();
    for (const t of j.added_tokens ?? []) bytesOf[t.id] = t.special === true ? new Uint8Array(0) : utf8.encode(t.content);
    const { Tokenizer: HfTokenizerClass } = await import('@huggingface/tokenizers');
    const hf = new HfTokenizerClass(json as object, {}) as unknown as HfTokenizer;
    return new NeoxTokenizer(hf, bytesOf, source);
  }

  encode(text: string): number[] {
    return this.hf.encode(toWellFormed(text)).ids;
  }

  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const b = Number.isInteger(id) ? this.bytesOf[id] : undefined;
      if (b === undefined) {
        throw new RwkvError('INVALID_TOKEN', `token id ${id} is not in the tokenizer`, {
          file: this.source,
          expected: `an integer in [0, ${this.vocabSize})`,
          actual: String(id),
        });
      }
      parts.push(b);
      total += b.length;
    }
    const out = new Uint8Array(total);
    let p = 0;
    for (const b of parts) {
      out.set(b, p);
      p += b.length;
    }
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(this.decodeBytes(ids));
  }
}

/** String.prototype.toWellFormed (ES2024): lone surrogates → U+FFFD. */
export function toWellFormed(s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}
