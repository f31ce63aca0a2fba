// `rwkv/generate`: the parts of generation below the main API (generate, generateText,
// ChatSession, perplexity): the official sampler as functions, the seeded generator behind
// `seed`, the defaults, and the token-level generation loop. test/architecture/exports.test.ts
// lists every name.

export { Pcg32, createRng, type Rng } from '../generate/rng.ts';
export {
  PIPELINE_DEFAULTS,
  Penalties,
  StopStrings,
  argmax,
  drawFrom,
  sampleLogits,
  samplingParams,
  samplingProbs,
  softmax,
} from '../generate/sampler.ts';
export { DEFAULT_MAX_TOKENS, generateSteps } from '../generate/generate.ts';
export { CHAT_DEFAULTS } from '../generate/chat.ts';
export { logProb } from '../generate/perplexity.ts';
