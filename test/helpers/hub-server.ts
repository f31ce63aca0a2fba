// A fake Hugging Face Hub on 127.0.0.1 for the download tests (no other network is touched).
//
// It answers the resolve endpoint as the Hub does:
//   HEAD|GET /{org}/{name}/resolve/{revision}/{path}
//     LFS file     → 302 to the "CDN" with X-Repo-Commit, X-Linked-Etag: "<sha256>", X-Linked-Size,
//                    ETag: "<pointer sha1>"; the CDN is a second listener (another origin) when
//                    `cdn: 'absolute'`, or a relative Location on the same one
//     regular file → 200 with X-Repo-Commit, ETag: W/"<git blob sha1>", Content-Length (+ body)
//     unknown repo → 401 X-Error-Code: RepoNotFound; unknown revision → 404 RevisionNotFound;
//     unknown file → 404 EntryNotFound
//     renamed repo → 307 to the new name (relative Location)
//   GET /cdn/{sha256}: the bytes, honouring `Range: bytes=N-` (206 + Content-Range, 416 past the end);
//     HEAD on it is refused (403), like a URL signed for GET only.
// Every request is logged (with whether it was answered or abandoned by the client); `faults`
// breaks data responses on purpose.

import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRng } from '../../src/generate/rng.ts';

export interface FakeFile {
  readonly bytes: Uint8Array;
  /** Stored in LFS: served through the CDN redirect, etag = sha256. */
  readonly lfs?: boolean;
}

export interface FakeRepo {
  /** commit hash → (path → file) */
  readonly commits: Record<string, Record<string, FakeFile>>;
  /** branch or tag → commit hash */
  readonly refs: Record<string, string>;
  /** A token the requests must carry (as `Authorization: Bearer <token>`) to see this repo. */
  readonly token?: string;
}

export interface Faults {
  /** Data responses: send this many body bytes, then cut the connection. */
  cutAfter?: number;
  /** Data responses: send this many body bytes, then nothing more (until the server closes). */
  stallAfter?: number;
  /** Answer Range requests with 200 and the whole file. */
  ignoreRange?: boolean;
  /** Flip one byte of the body, at offset 1000 (same length). */
  corrupt?: boolean;
  /** Send no Content-Length (chunked encoding): the client learns the length only at the end. */
  noLength?: boolean;
  /** Serve this many extra bytes after the file (Content-Length follows the body). */
  extraBytes?: number;
  /** Wait this long between 16 kB pieces of a body (so the client sees them as separate chunks). */
  paceMs?: number;
  /** Announce this size in X-Linked-Size / Content-Length of the metadata answer instead of the real one. */
  announceSize?: number;
  /** Never answer resolve requests (the connection stays open until the client gives up). */
  hangResolve?: boolean;
  /** Answer resolve requests with this status (e.g. 500). */
  resolveStatus?: number;
  /** How many data responses (or resolve answers for resolveStatus) the faults apply to; then they clear. */
  times?: number;
}

export interface LoggedRequest {
  readonly method: string;
  /** Which listener: the hub, or the cdn (a separate origin). */
  readonly host: 'hub' | 'cdn';
  readonly path: string;
  readonly range: string | undefined;
  readonly authorization: string | undefined;
  readonly status: number;
  /** 'answered' once the response is sent in full; 'abandoned' when the connection closes first
   * (the client gave up: a timeout or an abort). */
  readonly settled: Promise<'answered' | 'abandoned'>;
}

export interface HubServer {
  /** http://127.0.0.1:PORT, the endpoint to pass to resolveModelFile. */
  readonly url: string;
  readonly requests: LoggedRequest[];
  faults: Faults;
  /** old repo id → new repo id (answered with a relative 307). */
  readonly renamed: Record<string, string>;
  close(): Promise<void>;
}

const CHUNK = 16 * 1024;

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The git blob id of a file (the Hub's ETag for a file not stored in LFS). */
export function gitBlobSha1(bytes: Uint8Array): string {
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

/** Deterministic pseudo-random bytes (the tests' seeded generator, src/generate/rng.ts). */
export function testBytes(n: number, seed = 1): Uint8Array {
  const r = createRng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = r.nextUint32() & 0xff;
  return out;
}

export async function startHubServer(repos: Record<string, FakeRepo>, options: { cdn?: 'absolute' | 'relative' } = {}): Promise<HubServer> {
  const cdnMode = options.cdn ?? 'absolute';
  const blobs = new Map<string, Uint8Array>();
  for (const repo of Object.values(repos)) {
    for (const files of Object.values(repo.commits)) {
      for (const f of Object.values(files)) if (f.lfs) blobs.set(sha256Hex(f.bytes), f.bytes);
    }
  }
  const requests: LoggedRequest[] = [];
  const sockets = new Set<import('node:net').Socket>();
  let hubUrl = '';
  let cdnUrl = '';

  const state: HubServer = {
    get url() {
      return hubUrl;
    },
    requests,
    faults: {},
    renamed: {},
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all([hub, cdn].map((srv) => new Promise<void>((r) => srv.close(() => r()))));
    },
  };

  /** Decrement `times`; clear the faults when it reaches zero. Returns the faults to apply now. */
  function takeFaults(): Faults {
    const f = state.faults;
    if (f.times !== undefined) {
      if (f.times <= 0) return {};
      f.times--;
      const now = { ...f };
      if (f.times === 0) state.faults = {};
      return now;
    }
    return f;
  }

  function send(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    headers: Record<string, string | number>,
    body?: Uint8Array,
  ): void {
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || body === undefined) res.end();
    else res.end(body);
  }

  /** Serve file bytes (GET) with Range support and the faults. */
  function serveData(req: IncomingMessage, res: ServerResponse, bytes: Uint8Array, extra: Record<string, string>): number {
    const f = takeFaults();
    let body = bytes;
    if (f.corrupt && body.length > 0) {
      body = body.slice();
      body[Math.min(1000, body.length - 1)]! ^= 0xff;
    }
    if (f.extraBytes) {
      const longer = new Uint8Array(body.length + f.extraBytes);
      longer.set(body);
      body = longer;
    }
    let status = 200;
    const headers: Record<string, string | number> = { ...extra, 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream' };
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (range !== null && !f.ignoreRange) {
      const start = Number(range[1]);
      const end = range[2] === '' ? body.length - 1 : Math.min(Number(range[2]), body.length - 1);
      if (start >= body.length || end < start) {
        res.writeHead(416, { 'Content-Range': `bytes */${body.length}` });
        res.end();
        return 416;
      }
      headers['Content-Range'] = `bytes ${start}-${end}/${body.length}`;
      body = body.subarray(start, end + 1);
      status = 206;
    }
    if (!f.noLength) headers['Content-Length'] = body.length;
    res.writeHead(status, headers);
    if (req.method === 'HEAD') {
      res.end();
      return status;
    }
    const limit = f.cutAfter ?? f.stallAfter;
    const sendable = limit === undefined ? body : body.subarray(0, Math.min(limit, body.length));
    let pos = 0;
    const pump = () => {
      while (pos < sendable.length) {
        const piece = sendable.subarray(pos, pos + CHUNK);
        pos += piece.length;
        const flowing = res.write(piece);
        if (f.paceMs !== undefined && pos < sendable.length) return void setTimeout(pump, f.paceMs);
        if (!flowing) return void res.once('drain', pump);
      }
      if (f.cutAfter !== undefined) {
        // let the bytes reach the client, then break the connection mid-body
        setTimeout(() => res.socket?.destroy(), 30);
      } else if (f.stallAfter === undefined) {
        res.end();
      }
    };
    pump();
    return status;
  }

  function handleHub(req: IncomingMessage, res: ServerResponse): number {
    const url = new URL(req.url ?? '/', 'http://x');
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (m === null) return (send(req, res, 404, {}), 404);
    const repoId = m[1]!;
    const revision = decodeURIComponent(m[2]!);
    const path = m[3]!.split('/').map(decodeURIComponent).join('/');
    const renamedTo = state.renamed[repoId];
    if (renamedTo !== undefined) {
      send(req, res, 307, { Location: `/${renamedTo}/resolve/${m[2]}/${m[3]}` });
      return 307;
    }
    if (state.faults.hangResolve) return 0;
    if (state.faults.resolveStatus !== undefined) {
      const status = takeFaults().resolveStatus;
      if (status !== undefined) return (send(req, res, status, {}), status);
    }
    const repo = repos[repoId];
    if (repo === undefined || (repo.token !== undefined && req.headers.authorization !== `Bearer ${repo.token}`)) {
      send(req, res, 401, { 'X-Error-Code': 'RepoNotFound', 'X-Error-Message': 'Repository not found' });
      return 401;
    }
    const commit = repo.refs[revision] ?? (repo.commits[revision] !== undefined ? revision : undefined);
    if (commit === undefined) {
      send(req, res, 404, { 'X-Error-Code': 'RevisionNotFound', 'X-Error-Message': 'Invalid rev id' });
      return 404;
    }
    const file = repo.commits[commit]![path];
    if (file === undefined) {
      send(req, res, 404, { 'X-Error-Code': 'EntryNotFound', 'X-Error-Message': 'Entry not found', 'X-Repo-Commit': commit });
      return 404;
    }
    const announced = String(state.faults.announceSize ?? file.bytes.length);
    if (file.lfs) {
      const sha = sha256Hex(file.bytes);
      const cdnPath = `/cdn/${sha}?signature=${commit.slice(0, 8)}`;
      const body = new TextEncoder().encode(`Found. Redirecting to ${cdnPath}`);
      send(
        req,
        res,
        302,
        {
          Location: cdnMode === 'absolute' ? `${cdnUrl}${cdnPath}` : cdnPath,
          'X-Repo-Commit': commit,
          'X-Linked-Etag': `"${sha}"`,
          'X-Linked-Size': announced,
          ETag: `"${gitBlobSha1(new TextEncoder().encode(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha}\n`))}"`,
          'Content-Length': body.length,
        },
        body,
      );
      return 302;
    }
    const headers = { 'X-Repo-Commit': commit, ETag: `W/"${gitBlobSha1(file.bytes)}"` };
    if (req.method === 'HEAD') {
      send(req, res, 200, { ...headers, 'Content-Length': announced });
      return 200;
    }
    return serveData(req, res, file.bytes, headers);
  }

  function handleCdn(req: IncomingMessage, res: ServerResponse): number {
    const url = new URL(req.url ?? '/', 'http://x');
    const m = /^\/cdn\/([0-9a-f]{64})$/.exec(url.pathname);
    const bytes = m === null ? undefined : blobs.get(m[1]!);
    if (bytes === undefined) return (send(req, res, 404, {}), 404);
    if (req.method !== 'GET') return (send(req, res, 403, {}), 403);
    return serveData(req, res, bytes, { ETag: `"${m![1]}"` });
  }

  function listener(host: 'hub' | 'cdn') {
    return (req: IncomingMessage, res: ServerResponse) => {
      const path = req.url ?? '/';
      const settled = new Promise<'answered' | 'abandoned'>((resolve) => {
        res.once('finish', () => resolve('answered'));
        res.once('close', () => resolve(res.writableFinished ? 'answered' : 'abandoned'));
      });
      // the CDN paths answer on the hub listener too (relative redirects)
      const status = path.startsWith('/cdn/') ? handleCdn(req, res) : host === 'hub' ? handleHub(req, res) : (send(req, res, 404, {}), 404);
      requests.push({
        method: req.method ?? '?',
        host,
        path,
        range: req.headers.range,
        authorization: req.headers.authorization,
        status,
        settled,
      });
    };
  }

  const hub: Server = createServer(listener('hub'));
  const cdn: Server = createServer(listener('cdn'));
  for (const srv of [hub, cdn]) {
    srv.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
  }
  const listen = (srv: Server) =>
    new Promise<string>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(srv.address() as AddressInfo).port}`));
    });
  hubUrl = await listen(hub);
  cdnUrl = await listen(cdn);
  return state;
}
