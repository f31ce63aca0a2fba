// Text generation, chat and evaluation: the public names (re-exported by src/index.ts).

export { Pcg32, createRng, type Rng } from './rng.ts';
export {
  PIPELINE_DEFAULTS,
  ZERO_WEIGHT_CHARS,
  Penalties,
  StopStrings,
  argmax,
  drawFrom,
  occurrenceWeight,
  sampleLogits,
  samplingParams,
  samplingProbs,
  softmax,
  type PenaltyOptions,
  type SamplingOptions,
} from './sampler.ts';
export {
  DEFAULT_MAX_TOKENS,
  Generation,
  generate,
  generateSteps,
  generateText,
  penaltiesFor,
  type GenerateOptions,
  type GenerateResult,
  type GeneratedPiece,
  type StopReason,
} from './generate.ts';
export {
  CHAT_DEFAULTS,
  ChatSession,
  TURN_SEPARATOR,
  formatUserTurn,
  normalizeMessage,
  type ChatOptions,
  type ReplyOptions,
} from './chat.ts';
export {
  DOCUMENT_START,
  lambada,
  logProb,
  parseLambadaJsonl,
  perplexity,
  splitLastWord,
  type LambadaDocument,
  type LambadaResult,
  type PerplexityOptions,
  type PerplexityResult,
} from './perplexity.ts';
