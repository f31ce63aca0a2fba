// `rwkv/tokenizer`: the tokenizers' constants and helpers below the main API (which has
// WorldTokenizer, NeoxTokenizer, BytesTokenizer and loadTokenizer): vocabulary file names, sizes,
// download addresses and environment variables, the World vocabulary parser, the tokenizer
// embedded in a GGUF file, and the streaming UTF-8 decoder. test/architecture/exports.test.ts
// lists every name.

export { Utf8StreamDecoder } from '../tokenizer/tokenizer.ts';
export { END_OF_TEXT, WORLD_VOCAB_FILE, WORLD_VOCAB_SIZE, parseWorldVocab } from '../tokenizer/world.ts';
export { NEOX_TOKENIZER_FILE, NEOX_VOCAB_SIZE } from '../tokenizer/neox.ts';
export { BYTES_VOCAB_SIZE } from '../tokenizer/bytes.ts';
export {
  NEOX_TOKENIZER_ENV,
  NEOX_TOKENIZER_URLS,
  TOKENIZER_BY_VOCAB_SIZE,
  WORLD_VOCAB_ENV,
  WORLD_VOCAB_URLS,
  ggufTokenizer,
} from '../tokenizer/select.ts';
