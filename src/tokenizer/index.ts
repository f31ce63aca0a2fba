// The tokenizers: RWKV World (byte trie), GPT-NeoX 20B (through @huggingface/tokenizers, loaded on
// demand), bytes (tiny test models), and the choice between them.

export { type Tokenizer, type TokenizerKind, Utf8StreamDecoder } from './tokenizer.ts';
export {
  END_OF_TEXT,
  WORLD_VOCAB_FILE,
  WORLD_VOCAB_SIZE,
  WorldTokenizer,
  type WorldTokenizerOptions,
  parsePythonLiteral,
  parseWorldVocab,
} from './world.ts';
export { BYTES_VOCAB_SIZE, BytesTokenizer } from './bytes.ts';
export { NEOX_TOKENIZER_FILE, NEOX_VOCAB_SIZE, NeoxTokenizer } from './neox.ts';
export {
  NEOX_TOKENIZER_ENV,
  NEOX_TOKENIZER_URLS,
  TOKENIZER_BY_VOCAB_SIZE,
  type TokenizerOptions,
  WORLD_VOCAB_ENV,
  WORLD_VOCAB_URLS,
  ggufTokenizer,
  loadTokenizer,
  unescapeRwkvToken,
} from './select.ts';
