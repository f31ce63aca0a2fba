// Model references: a local path, or a file in a Hugging Face Hub model repository.
//
//   org/name/path/in/repo.pth                     the file at revision `main`
//   org/name@REVISION/path/in/repo.pth            at a branch, tag or commit hash; a revision that
//                                                 contains '/' is written percent-encoded
//                                                 (org/name@refs%2Fpr%2F1/model.pth)
//   org/name  +  { file: 'path/in/repo.pth' }     repo and file given apart (CLI: --model org/name --file F)
//   hf://org/name[@REVISION]/path                 always the Hub, never a local path
//   https://huggingface.co/org/name/resolve/REVISION/path   (or /blob/): a URL copied from the Hub
//
// Local or Hub? An existing local file always wins. Otherwise `./x`, `../x`, `/x`, `~/x`, `C:\x`,
// anything containing a backslash, and a bare `x.pth` (no '/') are local paths; `a/b/c` names a
// file on the Hub; `a/b` is a Hub repo when a separate file is given, else a local path.

import { stat } from 'node:fs/promises';
import { RwkvError } from '../errors.ts';

/** A file in a Hub model repository. */
export interface HubRef {
  /** `org/name` */
  readonly repo: string;
  /** Branch, tag or 40-hex commit hash (default `main`). */
  readonly revision: string;
  /** Path of the file inside the repository, '/'-separated, e.g. `RWKV-x070-World-0.1B.pth`. */
  readonly path: string;
}

export interface RefOptions {
  /** The file inside the repo, when the reference names only `org/name`. */
  file?: string | undefined;
  /** The revision, when the reference does not carry `@revision`. */
  revision?: string | undefined;
}

export const DEFAULT_REVISION = 'main';

const HUB_SCHEME = 'hf://';
const MODEL_EXTENSION = /\.(pth|pt|bin|safetensors|gguf)$/i;
const HUB_URL = /^https?:\/\/(?:www\.)?(?:huggingface\.co|hf\.co)\/(.*)$/i;
// The Hub's rule for an owner or a repo name: word characters, '-' and '.', at most 96, neither
// starting nor ending with '-' or '.', and no '--' or '..' (which would make `models--a--b` ambiguous).
const NAME = /^[A-Za-z0-9_](?:[\w.-]{0,94}[A-Za-z0-9_])?$/;

function invalid(spec: string, why: string, hint?: string): RwkvError {
  return new RwkvError('INVALID_ARGUMENT', `"${spec}" is not a valid Hugging Face Hub reference: ${why}`, {
    argument: 'model',
    ...(hint !== undefined ? { hint } : {}),
  });
}

function checkName(spec: string, part: string, what: string): void {
  if (!NAME.test(part) || part.includes('--') || part.includes('..')) {
    throw invalid(spec, `bad ${what} "${part}"`, 'owner and repo names use letters, digits, "_", "-" and "."');
  }
}

/** '/'-separated, no empty, `.` or `..` segment, no backslash or NUL: it becomes a path under the cache. */
function checkPath(spec: string, path: string, what: string): void {
  const parts = path.split('/');
  if (path === '' || parts.some((p) => p === '' || p === '.' || p === '..') || /[\\\0]/.test(path)) {
    throw invalid(spec, `bad ${what} "${path}"`);
  }
}

function decodeRevision(spec: string, raw: string): string {
  let rev: string;
  try {
    rev = decodeURIComponent(raw);
  } catch {
    throw invalid(spec, `bad percent-encoding in the revision "${raw}"`);
  }
  checkPath(spec, rev, 'revision');
  return rev;
}

/**
 * Parse a Hub reference (see the file header for the syntax). Throws INVALID_ARGUMENT for a
 * malformed one, or for `org/name` without a file.
 */
export function parseHubRef(spec: string, options: RefOptions = {}): HubRef {
  let rest = spec;
  let urlRevision: string | undefined;
  const url = HUB_URL.exec(spec);
  if (url !== null) {
    // org/name/(resolve|blob)/REVISION/path, query and fragment dropped
    const parts = url[1]!.replace(/[?#].*$/, '').split('/');
    if (parts.length < 5 || (parts[2] !== 'resolve' && parts[2] !== 'blob')) {
      throw invalid(spec, 'a Hub URL must look like https://huggingface.co/org/name/resolve/REVISION/FILE');
    }
    urlRevision = parts[3]!;
    rest = [parts[0], parts[1], ...parts.slice(4).map((p) => decodeURIComponent(p))].join('/');
  } else if (spec.startsWith(HUB_SCHEME)) {
    rest = spec.slice(HUB_SCHEME.length);
  }

  const segments = rest.split('/');
  if (segments.length < 2) throw invalid(spec, 'expected org/name/FILE');
  const owner = segments[0]!;
  let name = segments[1]!;
  let revision: string | undefined;
  const at = name.indexOf('@');
  if (at >= 0) {
    revision = decodeRevision(spec, name.slice(at + 1));
    name = name.slice(0, at);
  } else if (urlRevision !== undefined) {
    revision = decodeRevision(spec, urlRevision);
  }
  checkName(spec, owner, 'owner');
  checkName(spec, name, 'repo name');

  const inlinePath = segments.slice(2).join('/');
  if (inlinePath !== '' && options.file !== undefined) {
    throw invalid(spec, `it already names a file, and a separate file "${options.file}" was given too`);
  }
  const path = inlinePath !== '' ? inlinePath : options.file;
  if (path === undefined) {
    throw invalid(spec, 'it names a repository but no file', `name the file: ${owner}/${name}/FILE.pth (or pass the file separately)`);
  }
  checkPath(spec, path, 'file path');

  if (options.revision !== undefined) {
    const opt = decodeRevision(spec, options.revision);
    if (revision !== undefined && revision !== opt) {
      throw invalid(spec, `it says revision "${revision}" but revision "${opt}" was given too`);
    }
    revision = opt;
  }
  return { repo: `${owner}/${name}`, revision: revision ?? DEFAULT_REVISION, path };
}

/** Check a HubRef built by hand (its parts become paths under the cache); returns it unchanged. */
export function checkHubRef(ref: HubRef): HubRef {
  const spec = formatHubRef(ref);
  const parsed = parseHubRef(ref.repo, { file: ref.path, revision: encodeURIComponent(ref.revision) });
  if (parsed.repo !== ref.repo) throw invalid(spec, `bad repo "${ref.repo}"`);
  return ref;
}

/** `org/name@rev/path` (the revision shown only when it is not `main`), for messages. */
export function formatHubRef(ref: HubRef): string {
  const rev = ref.revision === DEFAULT_REVISION ? '' : `@${encodeURIComponent(ref.revision)}`;
  return `${ref.repo}${rev}/${ref.path}`;
}

/** True for strings that can only be local paths, whatever is on disk. */
export function looksLikeLocalPath(spec: string): boolean {
  if (spec.startsWith(HUB_SCHEME) || HUB_URL.test(spec)) return false;
  return (
    spec.startsWith('/') ||
    spec.startsWith('./') ||
    spec.startsWith('../') ||
    spec === '.' ||
    spec === '..' ||
    spec.startsWith('~') ||
    spec.includes('\\') ||
    /^[A-Za-z]:/.test(spec) ||
    !spec.includes('/')
  );
}

export type ModelLocation = { kind: 'local'; path: string } | { kind: 'hub'; ref: HubRef };

/**
 * Decide whether `spec` is a local file or a Hub file (see the file header). Only a Hub reference
 * that parses is returned as `hub`; one that does not parse is an INVALID_ARGUMENT error when it
 * cannot be a local path either.
 */
export async function locateModel(spec: string, options: RefOptions = {}): Promise<ModelLocation> {
  const forcedHub = spec.startsWith(HUB_SCHEME) || HUB_URL.test(spec);
  if (forcedHub) return { kind: 'hub', ref: parseHubRef(spec, options) };
  if (looksLikeLocalPath(spec) || (await isFile(spec))) return { kind: 'local', path: spec };
  // `dir/model.pth` with no separate file: a local path that does not exist (the loader says so)
  if (spec.split('/').length === 2 && options.file === undefined && MODEL_EXTENSION.test(spec)) {
    return { kind: 'local', path: spec };
  }
  try {
    return { kind: 'hub', ref: parseHubRef(spec, options) };
  } catch (e) {
    if (!(e instanceof RwkvError)) throw e;
    throw new RwkvError('INVALID_ARGUMENT', `no local file "${spec}", and ${e.message}`, { argument: 'model' });
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
