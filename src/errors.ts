// Typed errors. Every error the library throws on bad input is an RwkvError with a stable
// `code`, and, where it applies, the file, tensor or argument it is about, and what was expected.

/** Every `RwkvError.code`, in one list (docs/errors.md has a row for each). */
export const ERROR_CODES = [
  'FILE_NOT_FOUND',
  'FILE_FORMAT', // the bytes are not a file of the format we expected
  'UNSUPPORTED_FORMAT', // a format (or format feature) we do not read
  'UNSUPPORTED_DTYPE',
  'MISSING_TENSOR',
  'SHAPE_MISMATCH',
  'UNKNOWN_ARCHITECTURE', // the weights match no RWKV version we know
  'INVALID_ARGUMENT',
  'INVALID_TOKEN',
  'STATE_MISMATCH', // a state that belongs to another model
  'STATE_FORMAT',
  'BACKEND_UNAVAILABLE',
  'OP_UNSUPPORTED', // the backend lacks an op the model's version needs (Backend's optional ops)
  'CUDA_UNAVAILABLE', // no koffi, CUDA driver, GPU or kernel code (the message lists what was tried)
  'CUDA_ERROR', // a CUDA driver or NVRTC call failed after the backend loaded
  'NOT_FOUND_ON_HUB', // the Hub has no such repository, revision or file
  'DOWNLOAD_FAILED', // network error, HTTP error, or downloaded bytes that fail verification
  'NOT_CACHED', // offline (or the Hub unreachable) and the file is not in the local cache
  'UNSAFE_PICKLE', // a pickle asks for a global or an operation outside the allow-list (nothing is run)
  'PLATFORM_UNAVAILABLE', // a Node/Deno/Bun facility (files by path, native code) asked for in the browser build
] as const;

export type RwkvErrorCode = (typeof ERROR_CODES)[number];

export interface RwkvErrorDetails {
  file?: string;
  tensor?: string;
  argument?: string;
  expected?: string;
  actual?: string;
  hint?: string;
}

export class RwkvError extends Error {
  readonly code: RwkvErrorCode;
  readonly file: string | undefined;
  readonly tensor: string | undefined;
  readonly argument: string | undefined;
  readonly expected: string | undefined;
  readonly actual: string | undefined;
  readonly hint: string | undefined;

  constructor(code: RwkvErrorCode, message: string, details: RwkvErrorDetails = {}) {
    const where = [details.file, details.tensor].filter((s) => s !== undefined).join(': ');
    let text = where ? `${where}: ${message}` : message;
    if (details.expected !== undefined || details.actual !== undefined) {
      text += ` (expected ${details.expected ?? '?'}, got ${details.actual ?? '?'})`;
    }
    if (details.hint !== undefined) text += `; ${details.hint}`;
    super(text);
    this.name = 'RwkvError';
    this.code = code;
    this.file = details.file;
    this.tensor = details.tensor;
    this.argument = details.argument;
    this.expected = details.expected;
    this.actual = details.actual;
    this.hint = details.hint;
  }
}

/** `[2, 3]` → `"[2, 3]"`, used in every shape message. */
export function shapeString(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
