// Model files from the Hugging Face Hub, cached in the layout Python's huggingface_hub uses
// (see cache.ts), with resume, verification and offline reuse.
//
// What happens in resolveModelFile(spec):
//   1. spec is a local file (see ref.ts)                      → returned as it is
//   2. revision is a commit hash and the file is cached       → returned, no request
//   3. offline (option or HF_HUB_OFFLINE=1)                   → the cached file, or NOT_CACHED
//   4. HEAD {endpoint}/{repo}/resolve/{revision}/{path}: the Hub answers (200, or 302 to its CDN)
//      with X-Repo-Commit, X-Linked-Etag/ETag and X-Linked-Size/Content-Length.
//      The Hub unreachable (network error, timeout, 5xx, 429) → the cached file for the revision,
//      if there is one; 404 → NOT_FOUND_ON_HUB
//   5. snapshots/{commit}/{path} or blobs/{etag} already there → link it, no download
//   6. GET the file (the CDN location) into blobs/{etag}.incomplete, resuming with
//      `Range: bytes=N-` from what an earlier try left (206 → append, 200 → start over)
//   7. check the size, and the sha256 when the etag is one (LFS files), then rename the
//      .incomplete to blobs/{etag}, link snapshots/{commit}/{path} to it and write refs/{revision}.
//      Until this step nothing but the .incomplete exists, so a broken connection, an abort or
//      bad bytes never leave a cache entry that looks complete.
//
// Why not @huggingface/hub's downloadFileToCacheDir (Hugging Face's own JS client, which writes
// the same cache layout)? Read in its 2.17.5 source (src/lib/download-file-to-cache-dir.ts,
// download-file.ts, file-download-info.ts, snapshot-download.ts, utils/WebBlob.ts), it covers
// the cache path (HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME), the `models--org--name` folder and a
// relative symlink with a copy fallback: the ~40 lines of cache.ts. What this file exists for,
// it lacks:
//   - resume: it streams the whole body into blobs/{etag}.incomplete with createWriteStream, which
//     truncates, so every retry starts again at byte 0 (step 6 resumes with Range: bytes=N-);
//   - progress and cancel: no progress callback, no AbortSignal (only a `fetch` override), and an
//     abort's partial file would be truncated by the next call anyway;
//   - offline: it never writes refs/{revision} (only snapshotDownload, which fetches the whole
//     repo, does), and for a branch or tag it always asks the Hub first (POST .../paths-info/{rev}),
//     so `org/repo` at `main` cannot be found offline; it has no HF_HUB_OFFLINE, and a Hub that
//     cannot be reached is an error, not a fall-back to the cached file (step 4);
//   - checks: the blob is renamed into place without comparing its size or, for LFS files, its
//     sha256 with what the Hub announced (step 7);
//   - errors and time limits: plain Error / HubApiError, no timeout; we need HubError (code, URL,
//     status, transient) and the metadata/read timeouts Python has (HF_HUB_ETAG_TIMEOUT,
//     HF_HUB_DOWNLOAD_TIMEOUT);
//   - token: only an explicit accessToken (no HF_TOKEN, no Python's token file);
//   - output: console.debug on every download, console.info when symlinks fail.
// Its metadata call (fileDownloadInfo) does not return X-Repo-Commit, which snapshots/{commit}
// needs, so even that piece would need a request of our own. Taking the library for the cache
// path alone would add 10 packages (@huggingface/tasks, the Xet chunker, cli-progress and theirs;
// 12 MB in node_modules) for what cache.ts does in a few lines, so this client stays
// hand-written; cache.ts reads the same variables as the library and Python.

import { createHash, type Hash } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { RwkvError, type RwkvErrorCode, type RwkvErrorDetails } from '../errors.ts';
import { type Env, hfHome, hubCacheDir, isCommitHash, RepoCache } from './cache.ts';
import { checkHubRef, formatHubRef, type HubRef, locateModel, type RefOptions } from './ref.ts';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

/** One progress report. `loaded` only grows, and the last report of a download has loaded === total. */
export interface DownloadProgress {
  readonly phase: 'download';
  /** `org/name` */
  readonly repo: string;
  /** The path inside the repo. */
  readonly file: string;
  /** Bytes on disk so far, counting those resumed from an earlier try. */
  readonly loaded: number;
  /** The file's size. */
  readonly total: number;
}

export interface ResolveModelOptions extends RefOptions {
  /** The cache folder (default: HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME, XDG_CACHE_HOME, ~/.cache/huggingface/hub). */
  cacheDir?: string | undefined;
  /** The Hub's address (default HF_ENDPOINT, then https://huggingface.co). */
  endpoint?: string | undefined;
  /** Access token for private or gated repos (default HF_TOKEN, then Python's token file); false: none. */
  token?: string | false | undefined;
  /** Use only the cache, never the network (default: HF_HUB_OFFLINE=1). */
  offline?: boolean | undefined;
  onProgress?: ((progress: DownloadProgress) => void) | undefined;
  /** Aborting rejects with the signal's reason; the partial download is kept for a later resume. */
  signal?: AbortSignal | undefined;
  /** Milliseconds to wait for the Hub's metadata answer (default HF_HUB_ETAG_TIMEOUT or 10 s). */
  metadataTimeoutMs?: number | undefined;
  /** Milliseconds without a byte of data before a download is given up (default HF_HUB_DOWNLOAD_TIMEOUT or 10 s). */
  readTimeoutMs?: number | undefined;
  /** false: store snapshot entries as plain files instead of symlinks (done anyway where symlinks fail). */
  symlinks?: boolean | undefined;
  /** The environment to read HF_* variables from (default process.env). */
  env?: Env | undefined;
  /** The fetch to use (default globalThis.fetch). */
  fetch?: typeof globalThis.fetch | undefined;
}

/** A Hub or download failure: RwkvError plus where it happened. */
export class HubError extends RwkvError {
  /** The URL of the request that failed, if any. */
  readonly url: string | undefined;
  /** The HTTP status, when the server answered. */
  readonly status: number | undefined;
  readonly repo: string;
  readonly revision: string;
  readonly path: string;
  /** Network error, timeout, 429 or 5xx: trying again later may work. */
  readonly transient: boolean;

  constructor(
    code: RwkvErrorCode,
    message: string,
    ref: HubRef,
    extra: { url?: string | undefined; status?: number | undefined; transient?: boolean; cause?: unknown } & RwkvErrorDetails = {},
  ) {
    const { url, status, transient, cause, ...details } = extra;
    const where = [status !== undefined ? `HTTP ${status}` : undefined, url].filter((s) => s !== undefined).join(' ');
    super(code, where ? `${message} [${where}]` : message, { file: formatHubRef(ref), ...details });
    this.name = 'HubError';
    this.url = url;
    this.status = status;
    this.repo = ref.repo;
    this.revision = ref.revision;
    this.path = ref.path;
    this.transient = transient ?? false;
    if (cause !== undefined) (this as { cause?: unknown }).cause = cause;
  }
}

/**
 * The local path of a model: `spec` itself when it is a local file, else the Hub file it names,
 * downloaded into the cache first when needed. See the file header for the steps.
 */
export async function resolveModelFile(spec: string | HubRef, options: ResolveModelOptions = {}): Promise<string> {
  if (typeof spec !== 'string') return downloadHubFile(spec, options);
  const where = await locateModel(spec, options);
  return where.kind === 'local' ? where.path : downloadHubFile(where.ref, options);
}

/** Only the cache: the file's local path, or undefined. Never touches the network. */
export async function findCachedHubFile(
  ref: HubRef,
  options: Pick<ResolveModelOptions, 'cacheDir' | 'env'> = {},
): Promise<string | undefined> {
  checkHubRef(ref);
  return new RepoCache(options.cacheDir ?? hubCacheDir(options.env ?? process.env), ref.repo).find(ref.revision, ref.path);
}

/** The cached path of a Hub file, downloading it when needed (steps 2–7 of the file header). */
export async function downloadHubFile(ref: HubRef, options: ResolveModelOptions = {}): Promise<string> {
  checkHubRef(ref);
  options.signal?.throwIfAborted();
  const env = options.env ?? process.env;
  const cache = new RepoCache(options.cacheDir ?? hubCacheDir(env), ref.repo);

  if (isCommitHash(ref.revision)) {
    const hit = await cache.find(ref.revision, ref.path);
    if (hit !== undefined) return hit;
  }
  if (options.offline ?? isTrue(env['HF_HUB_OFFLINE'])) {
    const hit = await cache.find(ref.revision, ref.path);
    if (hit !== undefined) return hit;
    throw new HubError('NOT_CACHED', 'offline mode, and the file is not in the cache', ref, {
      hint: `cache folder ${cache.cacheDir}; go online (no offline option, HF_HUB_OFFLINE unset) to download it`,
    });
  }

  const endpoint = (options.endpoint ?? nonEmpty(env['HF_ENDPOINT']) ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
  const ctx: Context = {
    ref,
    cache,
    fetch: options.fetch ?? globalThis.fetch,
    auth: await authHeader(options.token, env),
    authOrigin: originOf(endpoint),
    signal: options.signal,
    onProgress: options.onProgress,
    readTimeoutMs: options.readTimeoutMs ?? seconds(env['HF_HUB_DOWNLOAD_TIMEOUT']) ?? 10_000,
  };
  const url = `${endpoint}/${ref.repo}/resolve/${encodeURIComponent(ref.revision)}/${ref.path.split('/').map(encodeURIComponent).join('/')}`;

  let meta: FileMetadata;
  try {
    meta = await fetchMetadata(ctx, url, options.metadataTimeoutMs ?? seconds(env['HF_HUB_ETAG_TIMEOUT']) ?? 10_000);
  } catch (e) {
    // The Hub is unreachable: use what the cache has for this revision, as Python does.
    if (e instanceof HubError && e.transient) {
      const hit = await cache.find(ref.revision, ref.path);
      if (hit !== undefined) return hit;
    }
    throw e;
  }

  // Already in this snapshot (another revision name for the same commit, or a ref that moved back).
  const pointer = cache.snapshot(meta.commit, ref.path);
  if ((await sizeOf(pointer)) === meta.size) {
    await cache.writeRef(ref.revision, meta.commit);
    return pointer;
  }

  const newBlob = await ensureBlob(ctx, meta);
  const file = await cache.linkSnapshot(meta.etag, meta.commit, ref.path, {
    newBlob,
    ...(options.symlinks !== undefined ? { symlinks: options.symlinks } : {}),
  });
  await cache.writeRef(ref.revision, meta.commit);
  return file;
}

// ---- internals ----

interface Context {
  ref: HubRef;
  cache: RepoCache;
  fetch: typeof globalThis.fetch;
  auth: string | undefined;
  authOrigin: string;
  signal: AbortSignal | undefined;
  onProgress: ((p: DownloadProgress) => void) | undefined;
  readTimeoutMs: number;
}

interface FileMetadata {
  commit: string;
  etag: string;
  size: number;
  /** Where the bytes are: the CDN URL of a redirect, or the resolve URL itself. */
  location: string;
}

const MAX_REDIRECTS = 5;
const SHA256 = /^[0-9a-f]{64}$/;
const SAFE_ETAG = /^[\w.-]{1,128}$/;

/** Downloads in progress in this process, by blob path: a second caller waits for the first. */
const inFlight = new Map<string, Promise<unknown>>();

function isTrue(v: string | undefined): boolean {
  return v !== undefined && ['1', 'ON', 'YES', 'TRUE'].includes(v.trim().toUpperCase());
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

function seconds(v: string | undefined): number | undefined {
  const s = v === undefined || v.trim() === '' ? NaN : Number(v);
  return Number.isFinite(s) && s > 0 ? s * 1000 : undefined;
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    throw new RwkvError('INVALID_ARGUMENT', `the Hub endpoint "${url}" is not a URL`, { argument: 'endpoint' });
  }
}

async function authHeader(token: string | false | undefined, env: Env): Promise<string | undefined> {
  if (token === false) return undefined;
  let t = token ?? nonEmpty(env['HF_TOKEN']) ?? nonEmpty(env['HUGGING_FACE_HUB_TOKEN']);
  if (t === undefined && !isTrue(env['HF_HUB_DISABLE_IMPLICIT_TOKEN'])) {
    // where `huggingface-cli login` stores it
    const file = nonEmpty(env['HF_TOKEN_PATH']) ?? join(hfHome(env), 'token');
    t = nonEmpty((await readFile(file, 'utf8').catch(() => '')).trim());
  }
  return t === undefined ? undefined : `Bearer ${t}`;
}

/** `W/"abc"` → `abc` */
function normalizeEtag(v: string | null): string | undefined {
  if (v === null) return undefined;
  const s = v
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1');
  return s === '' ? undefined : s;
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : undefined;
  } catch {
    return undefined;
  }
}

/** An AbortSignal that fires when any of `signals` does (AbortSignal.any is not in Node 20.0–20.2). */
function linkSignals(...signals: (AbortSignal | undefined)[]): { signal: AbortSignal; dispose: () => void } {
  const ctl = new AbortController();
  const subs: (() => void)[] = [];
  for (const s of signals) {
    if (s === undefined) continue;
    if (s.aborted) {
      ctl.abort(s.reason);
      break;
    }
    const on = () => ctl.abort(s.reason);
    s.addEventListener('abort', on, { once: true });
    subs.push(() => s.removeEventListener('abort', on));
  }
  return { signal: ctl.signal, dispose: () => subs.forEach((f) => f()) };
}

class Timeout extends Error {}

/**
 * One request, following redirects by hand so that the Authorization header goes to the Hub's
 * origin only, never to a CDN. `stop(res)` ends the chain at a redirect (the Hub's answer that
 * carries the file's metadata and points to the CDN).
 */
async function request(
  ctx: Context,
  url: string,
  init: { method: 'HEAD' | 'GET'; headers?: Record<string, string>; signal: AbortSignal },
  stop: (res: Response) => boolean = () => false,
): Promise<{ res: Response; url: string }> {
  let current = url;
  for (let hop = 0; ; hop++) {
    const headers: Record<string, string> = { 'Accept-Encoding': 'identity', ...init.headers };
    if (ctx.auth !== undefined && originOf(current) === ctx.authOrigin) headers['Authorization'] = ctx.auth;
    const res = await ctx.fetch(current, { method: init.method, headers, redirect: 'manual', signal: init.signal });
    const location = res.headers.get('location');
    if (res.status < 300 || res.status >= 400 || location === null || stop(res)) return { res, url: current };
    await res.body?.cancel().catch(() => {});
    if (hop >= MAX_REDIRECTS) {
      throw new HubError('DOWNLOAD_FAILED', `more than ${MAX_REDIRECTS} redirects`, ctx.ref, { url, status: res.status });
    }
    current = new URL(location, current).href;
  }
}

/** Turn a fetch rejection into the user's abort reason, a timeout error or a transient HubError. */
function networkError(ctx: Context, e: unknown, url: string, what: string, timedOut: boolean, timeoutMs: number): unknown {
  if (ctx.signal?.aborted) return ctx.signal.reason;
  if (e instanceof HubError) return e;
  if (timedOut) {
    return new HubError('DOWNLOAD_FAILED', `${what}: no answer for ${timeoutMs} ms`, ctx.ref, { url, transient: true, cause: e });
  }
  const msg = e instanceof Error ? [e.message, (e.cause as Error | undefined)?.message].filter(Boolean).join(': ') : String(e);
  return new HubError('DOWNLOAD_FAILED', `${what}: ${msg}`, ctx.ref, { url, transient: true, cause: e });
}

function httpError(ctx: Context, res: Response, url: string): HubError {
  const status = res.status;
  const code = res.headers.get('x-error-code') ?? '';
  const said = res.headers.get('x-error-message');
  const { repo, revision, path } = ctx.ref;
  const tokenHint = 'for a private or gated repo, set HF_TOKEN to an access token';
  if (status === 404 || code === 'RepoNotFound' || code === 'RevisionNotFound' || code === 'EntryNotFound') {
    const what =
      code === 'RepoNotFound'
        ? `no repository ${repo} on the Hub`
        : code === 'RevisionNotFound'
          ? `repository ${repo} has no revision "${revision}"`
          : `repository ${repo} has no file "${path}" at revision "${revision}"`;
    return new HubError('NOT_FOUND_ON_HUB', said ? `${what} (${said})` : what, ctx.ref, {
      url,
      status,
      ...(code === 'RepoNotFound' || code === '' ? { hint: tokenHint } : {}),
    });
  }
  const transient = status === 429 || status >= 500;
  const hint =
    status === 401 || status === 403
      ? code === 'GatedRepo'
        ? "accept the model's terms on its Hub page and set HF_TOKEN"
        : tokenHint
      : undefined;
  const what = status === 401 || status === 403 ? 'the Hub refused the request' : 'the request failed';
  return new HubError('DOWNLOAD_FAILED', said ? `${what} (${said})` : what, ctx.ref, {
    url,
    status,
    transient,
    ...(hint !== undefined ? { hint } : {}),
  });
}

async function fetchMetadata(ctx: Context, url: string, timeoutMs: number): Promise<FileMetadata> {
  const timer = new AbortController();
  const linked = linkSignals(ctx.signal, timer.signal);
  const t = setTimeout(() => timer.abort(new Timeout()), timeoutMs);
  let got: { res: Response; url: string };
  try {
    // Stop at a redirect that carries X-Repo-Commit: the Hub's answer pointing to its CDN, whose
    // signed URL is for GET only. Other redirects (a renamed repo) are followed.
    got = await request(ctx, url, { method: 'HEAD', signal: linked.signal }, (r) => r.headers.has('x-repo-commit'));
  } catch (e) {
    throw networkError(ctx, e, url, 'cannot reach the Hub', timer.signal.aborted, timeoutMs);
  } finally {
    clearTimeout(t);
    linked.dispose();
  }
  const { res } = got;
  await res.body?.cancel().catch(() => {});
  const redirected = res.status >= 300 && res.status < 400;
  if (!res.ok && !redirected) throw httpError(ctx, res, got.url);

  const h = res.headers;
  const commit = h.get('x-repo-commit') ?? '';
  const etag = normalizeEtag(h.get('x-linked-etag')) ?? normalizeEtag(h.get('etag'));
  const sizeText = h.get('x-linked-size') ?? (redirected ? null : h.get('content-length'));
  const size = sizeText !== null && /^\d+$/.test(sizeText.trim()) ? Number(sizeText) : undefined;
  const missing = [
    !isCommitHash(commit) ? 'X-Repo-Commit (a commit hash)' : undefined,
    etag === undefined || !SAFE_ETAG.test(etag) ? 'ETag' : undefined,
    size === undefined ? 'the file size' : undefined,
  ].filter((s) => s !== undefined);
  if (missing.length > 0) {
    throw new HubError('DOWNLOAD_FAILED', `the server's answer lacks ${missing.join(', ')}; is the endpoint a Hugging Face Hub?`, ctx.ref, {
      url: got.url,
      status: res.status,
    });
  }
  const location = redirected ? new URL(h.get('location')!, got.url).href : got.url;
  return { commit, etag: etag!, size: size!, location };
}

/** Make blobs/{etag} exist with the right bytes. Returns true when it was downloaded now. */
async function ensureBlob(ctx: Context, meta: FileMetadata): Promise<boolean> {
  const blob = ctx.cache.blob(meta.etag);
  for (;;) {
    const running = inFlight.get(blob);
    if (running === undefined) break;
    await running.catch(() => {});
  }
  // no await between the check above and the registration below: one download per blob
  const job = (async () => {
    const have = await sizeOf(blob);
    if (have === meta.size) return false;
    if (have !== undefined) await rm(blob, { force: true }); // damaged: fetch it again
    await downloadBlob(ctx, meta);
    return true;
  })();
  inFlight.set(blob, job);
  try {
    return await job;
  } finally {
    if (inFlight.get(blob) === job) inFlight.delete(blob);
  }
}

async function downloadBlob(ctx: Context, meta: FileMetadata): Promise<void> {
  const tmp = ctx.cache.incomplete(meta.etag);
  await mkdir(dirname(tmp), { recursive: true });
  let have = (await sizeOf(tmp)) ?? 0;
  if (have > meta.size) {
    await rm(tmp, { force: true });
    have = 0;
  }
  const digest = have < meta.size ? await fetchInto(ctx, meta, tmp, have) : undefined;
  await verify(ctx, meta, tmp, digest);
  await rename(tmp, ctx.cache.blob(meta.etag));
}

/**
 * GET the bytes from `have` on, appended to `tmp`. One retry from zero if the range is refused.
 * Returns the sha256 of the whole file when the etag is one (hashed as the bytes arrive).
 */
async function fetchInto(ctx: Context, meta: FileMetadata, tmp: string, have: number): Promise<string | undefined> {
  const stall = new AbortController();
  const linked = linkSignals(ctx.signal, stall.signal);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => stall.abort(new Timeout()), ctx.readTimeoutMs);
  };
  let loaded = have;
  let url = meta.location;
  try {
    arm();
    let res: Response;
    for (let attempt = 0; ; attempt++) {
      ({ res, url } = await request(ctx, meta.location, {
        method: 'GET',
        signal: linked.signal,
        ...(have > 0 ? { headers: { Range: `bytes=${have}-` } } : {}),
      }));
      if (res.status === 206 && have > 0) {
        const range = /^bytes (\d+)-(\d+)\/(\d+|\*)\s*$/.exec(res.headers.get('content-range') ?? '');
        if (range !== null && Number(range[1]) === have && (range[3] === '*' || Number(range[3]) === meta.size)) break;
      } else if (res.status === 200) {
        have = 0; // the server sent the whole file: start over
        break;
      } else if (res.status !== 416 || attempt > 0) {
        await res.body?.cancel().catch(() => {});
        throw httpError(ctx, res, url);
      }
      // 416, or a 206 for other bytes than asked: drop the partial file and ask for all of it
      await res.body?.cancel().catch(() => {});
      if (attempt > 0)
        throw new HubError('DOWNLOAD_FAILED', 'the server sent a range that was not asked for', ctx.ref, { url, status: res.status });
      await rm(tmp, { force: true });
      have = 0;
    }
    if (res.status === 200) {
      const len = res.headers.get('content-length');
      if (len !== null && Number(len) !== meta.size) {
        await res.body?.cancel().catch(() => {});
        throw new HubError('DOWNLOAD_FAILED', 'the download is not the size the Hub announced', ctx.ref, {
          url,
          expected: `${meta.size} bytes`,
          actual: `Content-Length ${len}`,
        });
      }
    }
    if (res.body === null) throw new HubError('DOWNLOAD_FAILED', 'the server sent no body', ctx.ref, { url, status: res.status });

    loaded = have;
    const hash = SHA256.test(meta.etag) ? await hashPrefix(tmp, have, ctx.signal) : undefined;
    const fh = await open(tmp, have > 0 ? 'a' : 'w');
    try {
      ctx.onProgress?.({ phase: 'download', repo: ctx.ref.repo, file: ctx.ref.path, loaded, total: meta.size });
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        arm();
        if (loaded + value.length > meta.size) {
          await reader.cancel().catch(() => {});
          await fh.close();
          await rm(tmp, { force: true });
          throw new HubError('DOWNLOAD_FAILED', 'the server sent more bytes than the Hub announced', ctx.ref, {
            url,
            expected: `${meta.size} bytes`,
            actual: `more than ${meta.size}`,
          });
        }
        for (let off = 0; off < value.length; ) off += (await fh.write(value, off, value.length - off)).bytesWritten;
        hash?.update(value);
        loaded += value.length;
        ctx.onProgress?.({ phase: 'download', repo: ctx.ref.repo, file: ctx.ref.path, loaded, total: meta.size });
      }
    } finally {
      await fh.close().catch(() => {});
    }
    return hash?.digest('hex');
  } catch (e) {
    throw networkError(
      ctx,
      e,
      url,
      `download interrupted after ${loaded} of ${meta.size} bytes (run again to resume)`,
      stall.signal.aborted,
      ctx.readTimeoutMs,
    );
  } finally {
    clearTimeout(timer);
    linked.dispose();
  }
}

/** The size, and the sha256 when the etag is one; bad bytes are deleted (resuming them cannot help). */
async function verify(ctx: Context, meta: FileMetadata, tmp: string, digestSoFar: string | undefined): Promise<void> {
  const size = (await sizeOf(tmp)) ?? 0;
  if (size < meta.size) {
    // the connection ended cleanly but early: the bytes so far are kept to resume from
    throw new HubError('DOWNLOAD_FAILED', 'the download ended early (run again to resume)', ctx.ref, {
      url: meta.location,
      transient: true,
      expected: `${meta.size} bytes`,
      actual: `${size} bytes`,
    });
  }
  if (size > meta.size) {
    await rm(tmp, { force: true });
    throw new HubError('DOWNLOAD_FAILED', 'the download is larger than the Hub announced', ctx.ref, {
      url: meta.location,
      expected: `${meta.size} bytes`,
      actual: `${size} bytes`,
    });
  }
  if (!SHA256.test(meta.etag)) return;
  const digest = digestSoFar ?? (await hashPrefix(tmp, size, ctx.signal)).digest('hex');
  if (digest !== meta.etag) {
    await rm(tmp, { force: true });
    throw new HubError('DOWNLOAD_FAILED', "the downloaded bytes do not match the Hub's sha256", ctx.ref, {
      url: meta.location,
      expected: `sha256 ${meta.etag}`,
      actual: `sha256 ${digest}`,
    });
  }
}

/** A sha256 over the first `length` bytes of `path` (to go on hashing a resumed download). */
async function hashPrefix(path: string, length: number, signal: AbortSignal | undefined): Promise<Hash> {
  const hash = createHash('sha256');
  if (length === 0) return hash;
  const fh = await open(path, 'r');
  try {
    const buf = new Uint8Array(1 << 20);
    for (let pos = 0; pos < length; ) {
      signal?.throwIfAborted();
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, length - pos), pos);
      if (bytesRead === 0) throw new Error(`${path} is shorter than ${length} bytes`);
      hash.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return hash;
}
