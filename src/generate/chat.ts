// A chat session in the RWKV chat format, as BlinkDL's chat demo (ChatRWKV API_DEMO_CHAT.py) runs it:
//
//   [preamble]User: <message>\n\nAssistant:<reply>\n\nUser: <message>\n\nAssistant:<reply>\n\n...
//
// - the user's message is normalised like the demo: CRLF → LF, trimmed, runs of newlines collapsed
//   to one (a blank line would end the turn: "\n\n" is the turn separator);
// - each turn feeds only "User: <message>\n\nAssistant:" into the kept RNN state (history is never
//   re-fed), then generates the reply until the text contains "\n\n" (not shown);
// - every reply token is fed, so after a turn the state is that of the whole transcript; a reply
//   that ended another way (token limit, abort, stop token) is closed by feeding "\n\n";
// - the end-of-text token 0 is banned for World / 20B tokenizers (the demo's `out[0] -= 1e10`);
// - the demo's sampling settings are the defaults: temperature 1, top_p 0.3, presence 0.5,
//   frequency 0.5, decay 0.996 (with temperature 0 the penalties default to 0, as in generate).

import { RwkvError } from '../errors.ts';
import { decodeStateFile, detectStateFileFormat, encodeStateFile, type StateFileFormat } from '../state/state-interop.ts';
import type { RwkvModel } from '../model/model.ts';
import type { RwkvState } from '../model/state.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { type GenerateOptions, type GenerateResult, type GeneratedPiece, Generation, generateSteps } from './generate.ts';
import { type Rng, createRng } from './rng.ts';

/** The chat demo's sampling settings (ChatRWKV API_DEMO_CHAT.py) and a reply length limit. */
export const CHAT_DEFAULTS = Object.freeze({
  temperature: 1.0,
  topP: 0.3,
  alphaPresence: 0.5,
  alphaFrequency: 0.5,
  alphaDecay: 0.996,
  maxTokens: 500,
  chunkLen: 256,
});

/** What ends a turn (and a reply). */
export const TURN_SEPARATOR = '\n\n';

export interface ChatOptions extends Omit<GenerateOptions, 'state' | 'logits' | 'signal' | 'onToken' | 'onPromptProgress' | 'rng'> {
  /** Name of the user's turns. Default 'User'. */
  userName?: string;
  /** Name of the model's turns. Default 'Assistant'. */
  assistantName?: string;
  /** Text fed once at the start (and after reset()), e.g. an example exchange. Default none. */
  preamble?: string;
  /** Start from this state instead of a fresh one (copied; e.g. a state-tuned one). */
  initialState?: RwkvState;
}

/** Per-reply options. */
export type ReplyOptions = Pick<GenerateOptions, 'signal' | 'onToken' | 'onPromptProgress' | 'maxTokens'>;

/** The demo's normalisation of a user message: CRLF → LF, trimmed, newline runs → one newline. */
export function normalizeMessage(message: string): string {
  return message.replace(/\r\n?/g, '\n').trim().replace(/\n+/g, '\n');
}

/** The text fed for one user turn: `User: <message>\n\nAssistant:`. */
export function formatUserTurn(message: string, userName = 'User', assistantName = 'Assistant'): string {
  return `${userName}: ${normalizeMessage(message)}${TURN_SEPARATOR}${assistantName}:`;
}

export class ChatSession {
  /** The conversation state (prompt and replies so far). */
  state: RwkvState;
  /** Every token fed since the start, the last reset() or loadState() (the transcript's tokens). */
  readonly transcriptTokens: number[] = [];
  private readonly start: RwkvState;
  private readonly options: ChatOptions;
  private readonly rng: Rng;
  private busy = false;

  private constructor(
    readonly model: RwkvModel,
    readonly tokenizer: Tokenizer,
    options: ChatOptions,
    start: RwkvState,
  ) {
    this.options = options;
    this.start = start;
    this.state = start.clone();
    this.rng = createRng(options.seed);
  }

  /** A new session; feeds `preamble` when given. */
  static async create(model: RwkvModel, tokenizer: Tokenizer, options: ChatOptions = {}): Promise<ChatSession> {
    const start = options.initialState?.clone() ?? model.createState();
    const preamble = options.preamble !== undefined && options.preamble !== '' ? tokenizer.encode(options.preamble) : [];
    const chunk = options.chunkLen ?? CHAT_DEFAULTS.chunkLen;
    for (let i = 0; i < preamble.length; i += chunk) await model.forward(preamble.slice(i, i + chunk), start);
    const session = new ChatSession(model, tokenizer, options, start);
    session.transcriptTokens.push(...preamble);
    return session;
  }

  /**
   * Send a user message; the reply streams as pieces (`for await`) and `.result` gives the reply
   * (text without the "\n\n"). Aborting during the user's message leaves the state as it was.
   */
  send(message: string, options: ReplyOptions = {}): Generation {
    if (normalizeMessage(message) === '') throw new RwkvError('INVALID_ARGUMENT', 'the message is empty', { argument: 'message' });
    if (this.busy) throw new RwkvError('INVALID_ARGUMENT', 'a reply is still being generated; wait for it (or abort it) first');
    this.busy = true;
    return new Generation((cancelled) => this.turn(message, options, cancelled));
  }

  private async *turn(message: string, r: ReplyOptions, cancelled: () => boolean): AsyncGenerator<GeneratedPiece, GenerateResult> {
    const o = this.options;
    const before = this.state.clone();
    let result: GenerateResult;
    const prompt = this.tokenizer.encode(formatUserTurn(message, o.userName, o.assistantName));
    try {
      const ban = this.tokenizer.kind === 'bytes' ? [] : [0]; // 0 = end of text (World, 20B)
      // greedy (temperature 0) means the argmax: the demo's penalties are not defaults there
      const greedy = (o.temperature ?? CHAT_DEFAULTS.temperature) === 0;
      const { alphaPresence, alphaFrequency, ...rest } = CHAT_DEFAULTS;
      const steps = generateSteps(
        this.model,
        this.tokenizer,
        prompt,
        {
          ...rest,
          ...(greedy ? {} : { alphaPresence, alphaFrequency }),
          ...stripUndefined(o),
          ...stripUndefined(r),
          tokenBan: [...ban, ...(o.tokenBan ?? [])],
          stop: [TURN_SEPARATOR, ...(typeof o.stop === 'string' ? [o.stop] : (o.stop ?? []))],
          rng: this.rng,
          state: this.state,
        },
        cancelled,
      );
      for (;;) {
        const step = await steps.next();
        if (step.done) {
          result = step.value;
          break;
        }
        yield step.value;
      }
    } catch (e) {
      // the message was not (fully) fed: back to the state before it
      this.state.dispose();
      this.state = before;
      this.busy = false;
      throw e;
    }
    before.dispose();
    this.transcriptTokens.push(...prompt, ...result.tokens);
    if (result.stopReason !== 'stopString') {
      const close = this.tokenizer.encode(TURN_SEPARATOR);
      result.logits = (await this.model.forward(close, this.state)).logits as Float32Array;
      this.transcriptTokens.push(...close);
    }
    this.busy = false;
    return result;
  }

  /** Back to the start (the initial state, with the preamble fed). */
  reset(): void {
    this.state.dispose();
    this.state = this.start.clone();
    this.transcriptTokens.length = 0;
    if (this.options.preamble !== undefined && this.options.preamble !== '')
      this.transcriptTokens.push(...this.tokenizer.encode(this.options.preamble));
  }

  /** The session state as a state file (rwkv-js format by default; see src/state/state-interop.ts). */
  async saveState(format: StateFileFormat = 'rwkv-js'): Promise<Uint8Array> {
    return encodeStateFile(await this.state.toArray(), this.model.config, format);
  }

  /** Continue from a state file (format detected unless given). The transcript is then unknown. */
  loadState(bytes: Uint8Array, format?: StateFileFormat, file = '(memory)'): void {
    const fmt = format ?? detectStateFileFormat(bytes);
    if (fmt === undefined) {
      throw new RwkvError('STATE_FORMAT', 'cannot tell the format of this state file', {
        file,
        hint: 'give its format (rwkv.cpp or web-rwkv)',
      });
    }
    this.state.fromArray(decodeStateFile(bytes, this.model.config, fmt, file));
    this.transcriptTokens.length = 0;
  }

  dispose(): void {
    this.state.dispose();
    this.start.dispose();
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
