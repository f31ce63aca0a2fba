// Downloads from a fake Hub on 127.0.0.1 (test/helpers/hub-server.ts): the Python cache layout,
// zero requests once cached, resume after a broken connection, verification, typed errors,
// progress, abort and offline fallback. No request leaves 127.0.0.1.

import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RwkvError } from '../../src/errors.ts';
import { type DownloadProgress, HubError, resolveModelFile, type ResolveModelOptions } from '../../src/hub/download.ts';
import { gitBlobSha1, type HubServer, sha256Hex, startHubServer, testBytes } from '../helpers/hub-server.ts';

const C1 = '1111111111111111111111111111111111111111';
const C2 = '2222222222222222222222222222222222222222';
const REPO = 'BlinkDL/rwkv-7-world';
const MODEL = 'RWKV-x070-World-0.1B-v2.8-20241210-ctx4096.pth';
const model = testBytes(300_000, 7); // LFS: 302 to the CDN, etag = sha256
const modelV2 = testBytes(200_000, 9);
const config = new TextEncoder().encode('{"n_layer": 12}\n'); // regular git file, etag = git sha1
const secret = testBytes(50_000, 11);

let server: HubServer;
let cacheDir: string;

/** Options that pin everything to the fake hub and the test's own cache (never the user's env). */
function opts(extra: ResolveModelOptions = {}): ResolveModelOptions {
  return { endpoint: server.url, cacheDir, env: {}, token: false, metadataTimeoutMs: 5000, readTimeoutMs: 5000, ...extra };
}

const repoDir = () => join(cacheDir, 'models--BlinkDL--rwkv-7-world');
const listBlobs = () => (existsSync(join(repoDir(), 'blobs')) ? readdirSync(join(repoDir(), 'blobs')).sort() : []);
const snapshotFile = (commit: string, path: string) => join(repoDir(), 'snapshots', commit, ...path.split('/'));

/** The file holds exactly `bytes` (toEqual on 300 kB arrays is slow, so compare as buffers). */
function expectBytes(file: string, bytes: Uint8Array): void {
  const got = readFileSync(file);
  expect(got.length).toBe(bytes.length);
  expect(Buffer.compare(got, bytes)).toBe(0);
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected the promise to reject');
}

/** Nothing but (optionally) the .incomplete: no blob, no snapshot, no ref. */
function expectNothingCommitted(etag: string, incomplete: 'kept' | 'gone'): void {
  expect(listBlobs()).toEqual(incomplete === 'kept' ? [`${etag}.incomplete`] : []);
  expect(existsSync(join(repoDir(), 'snapshots'))).toBe(false);
  expect(existsSync(join(repoDir(), 'refs'))).toBe(false);
}

beforeAll(async () => {
  server = await startHubServer({
    [REPO]: {
      commits: {
        [C1]: { [MODEL]: { bytes: model, lfs: true }, 'config/sub/config.json': { bytes: config } },
        [C2]: { [MODEL]: { bytes: modelV2, lfs: true }, 'config/sub/config.json': { bytes: config } },
      },
      refs: { main: C1, 'refs/pr/1': C2, v2: C2 },
    },
    'BlinkDL/private': { commits: { [C1]: { 'm.pth': { bytes: secret, lfs: true } } }, refs: { main: C1 }, token: 'hf_test' },
  });
});

afterAll(async () => {
  await server.close();
});

beforeEach(() => {
  cacheDir = mkdtempSync(join(tmpdir(), 'rwkv-hub-'));
  server.requests.length = 0;
  server.faults = {};
  for (const k of Object.keys(server.renamed)) delete server.renamed[k];
});

afterEach(() => {
  rmSync(cacheDir, { recursive: true, force: true });
});

describe('first download', () => {
  it('creates exactly the Python cache layout: blob, relative snapshot symlink, refs/main', async () => {
    const sha = sha256Hex(model);
    const file = await resolveModelFile(`${REPO}/${MODEL}`, opts());
    expect(file).toBe(snapshotFile(C1, MODEL));
    expectBytes(file, model);

    expect(readdirSync(cacheDir)).toEqual(['models--BlinkDL--rwkv-7-world']);
    expect(readdirSync(repoDir()).sort()).toEqual(['blobs', 'refs', 'snapshots']);
    expect(listBlobs()).toEqual([sha]);
    expect(statSync(join(repoDir(), 'blobs', sha)).size).toBe(model.length);
    expect(lstatSync(file).isSymbolicLink()).toBe(true);
    expect(readlinkSync(file)).toBe(join('..', '..', 'blobs', sha));
    expect(readdirSync(join(repoDir(), 'refs'))).toEqual(['main']);
    expect(readFileSync(join(repoDir(), 'refs', 'main'), 'utf8')).toBe(C1); // no newline, as Python writes it

    // one HEAD on the hub (stopping at the 302), one GET on the CDN (another origin)
    expect(server.requests.map((r) => `${r.method} ${r.host} ${r.status}`)).toEqual(['HEAD hub 302', 'GET cdn 200']);
    expect(server.requests[0]!.path).toBe(`/${REPO}/resolve/main/${MODEL}`);
  });

  it('stores a regular (non-LFS) file in a sub-folder under its git sha1, linked with one ../ per folder', async () => {
    const file = await resolveModelFile(REPO, opts({ file: 'config/sub/config.json' }));
    const etag = gitBlobSha1(config);
    expect(file).toBe(snapshotFile(C1, 'config/sub/config.json'));
    expect(readFileSync(file, 'utf8')).toBe('{"n_layer": 12}\n');
    expect(readlinkSync(file)).toBe(join('..', '..', '..', '..', 'blobs', etag));
    expect(listBlobs()).toEqual([etag]);
    expect(server.requests.map((r) => `${r.method} ${r.host} ${r.status}`)).toEqual(['HEAD hub 200', 'GET hub 200']);
  });

  it('follows a relative CDN redirect and a renamed repository', async () => {
    const relative = await startHubServer(
      { [REPO]: { commits: { [C1]: { [MODEL]: { bytes: model, lfs: true } } }, refs: { main: C1 } } },
      { cdn: 'relative' },
    );
    try {
      relative.renamed['BlinkDL/old-name'] = REPO;
      // renamed: the files land in the cache folder of the name that was asked for, as in Python
      const file = await resolveModelFile(`BlinkDL/old-name/${MODEL}`, opts({ endpoint: relative.url }));
      expectBytes(file, model);
      expect(file).toBe(join(cacheDir, 'models--BlinkDL--old-name', 'snapshots', C1, MODEL));
      expect(relative.requests.map((r) => `${r.method} ${r.host} ${r.status} ${r.path.split('?')[0]}`)).toEqual([
        `HEAD hub 307 /BlinkDL/old-name/resolve/main/${MODEL}`,
        `HEAD hub 302 /${REPO}/resolve/main/${MODEL}`,
        `GET hub 200 /cdn/${sha256Hex(model)}`,
      ]);
    } finally {
      await relative.close();
    }
  });

  it('downloads a branch with a "/" in its name (refs/pr/1) and records it under refs/', async () => {
    const file = await resolveModelFile(`${REPO}@refs%2Fpr%2F1/${MODEL}`, opts());
    expectBytes(file, modelV2);
    expect(file).toBe(snapshotFile(C2, MODEL));
    expect(readFileSync(join(repoDir(), 'refs', 'refs', 'pr', '1'), 'utf8')).toBe(C2);
    expect(server.requests[0]!.path).toBe(`/${REPO}/resolve/refs%2Fpr%2F1/${MODEL}`);
  });
});

describe('reuse of the cache', () => {
  it('makes zero requests offline (option or HF_HUB_OFFLINE=1) and with a commit revision', async () => {
    const first = await resolveModelFile(`${REPO}/${MODEL}`, opts());
    server.requests.length = 0;
    expect(await resolveModelFile(`${REPO}/${MODEL}`, opts({ offline: true }))).toBe(first);
    expect(await resolveModelFile(`${REPO}/${MODEL}`, opts({ env: { HF_HUB_OFFLINE: '1' } }))).toBe(first);
    expect(await resolveModelFile(`${REPO}@${C1}/${MODEL}`, opts())).toBe(first);
    expect(await resolveModelFile({ repo: REPO, revision: C1, path: MODEL }, opts())).toBe(first);
    expect(server.requests).toEqual([]);
  });

  it('online with a branch: one HEAD, no download', async () => {
    const first = await resolveModelFile(`${REPO}/${MODEL}`, opts());
    server.requests.length = 0;
    expect(await resolveModelFile(`${REPO}/${MODEL}`, opts())).toBe(first);
    expect(server.requests.map((r) => r.method)).toEqual(['HEAD']);
  });

  it('links a blob it already has into a new snapshot without downloading it again', async () => {
    await resolveModelFile(`${REPO}/config/sub/config.json`, opts());
    server.requests.length = 0;
    const file = await resolveModelFile(`${REPO}@v2/config/sub/config.json`, opts());
    expect(file).toBe(snapshotFile(C2, 'config/sub/config.json'));
    expect(readFileSync(file, 'utf8')).toBe('{"n_layer": 12}\n');
    expect(server.requests.map((r) => r.method)).toEqual(['HEAD']);
    expect(readFileSync(join(repoDir(), 'refs', 'v2'), 'utf8')).toBe(C2);
  });

  it('offline with nothing cached: NOT_CACHED, and no request', async () => {
    const e = await failure(resolveModelFile(`${REPO}/${MODEL}`, opts({ offline: true })));
    expect(e).toBeInstanceOf(RwkvError);
    expect((e as RwkvError).code).toBe('NOT_CACHED');
    expect((e as RwkvError).message).toContain(`${REPO}/${MODEL}`);
    expect(server.requests).toEqual([]);
  });

  it('falls back to the cached snapshot when the Hub cannot be reached or fails with 5xx', async () => {
    const first = await resolveModelFile(`${REPO}/${MODEL}`, opts());
    const gone = await startHubServer({});
    const deadEndpoint = gone.url;
    await gone.close(); // nothing listens there any more: connection refused
    expect(await resolveModelFile(`${REPO}/${MODEL}`, opts({ endpoint: deadEndpoint }))).toBe(first);

    server.faults = { resolveStatus: 503, times: 1 };
    server.requests.length = 0;
    expect(await resolveModelFile(`${REPO}/${MODEL}`, opts())).toBe(first);
    expect(server.requests.map((r) => `${r.method} ${r.status}`)).toEqual(['HEAD 503']);

    // not cached: the network error is reported, typed
    const e = await failure(resolveModelFile(`${REPO}@v2/${MODEL}`, opts({ endpoint: deadEndpoint })));
    expect((e as HubError).code).toBe('DOWNLOAD_FAILED');
    expect((e as HubError).transient).toBe(true);
    expect((e as HubError).url).toBe(`${deadEndpoint}/${REPO}/resolve/v2/${MODEL}`);
  });

  // No wall-clock assertions: the fake hub never answers, so a client that did not give up would
  // hang until vitest's per-test timeout fails the test; the message names the timeout it armed.
  it('falls back to the cache when the Hub does not answer within metadataTimeoutMs', async () => {
    const first = await resolveModelFile(`${REPO}/${MODEL}`, opts());
    server.faults = { hangResolve: true };
    server.requests.length = 0;
    expect(await resolveModelFile(`${REPO}/${MODEL}`, opts({ metadataTimeoutMs: 300 }))).toBe(first);
    // it asked, gave up on the unanswered request, and took the cached file: no download
    expect(server.requests.map((r) => `${r.method} ${r.host}`)).toEqual(['HEAD hub']);
    expect(await server.requests[0]!.settled).toBe('abandoned');
    const e = (await failure(resolveModelFile(`${REPO}@v2/${MODEL}`, opts({ metadataTimeoutMs: 300 })))) as HubError;
    expect(e.code).toBe('DOWNLOAD_FAILED');
    expect(e.message).toMatch(/cannot reach the Hub: no answer for 300 ms/);
  });

  it('takes the endpoint and the cache folder from HF_ENDPOINT and HF_HUB_CACHE', async () => {
    const file = await resolveModelFile(
      `${REPO}/${MODEL}`,
      opts({ endpoint: undefined, cacheDir: undefined, env: { HF_ENDPOINT: `${server.url}/`, HF_HUB_CACHE: cacheDir } }),
    );
    expect(file).toBe(snapshotFile(C1, MODEL));
    expect(server.requests.length).toBe(2);
  });

  it('stores the file itself in the snapshot when symlinks are off (moved, not copied), and finds it again', async () => {
    const file = await resolveModelFile(`${REPO}/${MODEL}`, opts({ symlinks: false }));
    expect(lstatSync(file).isSymbolicLink()).toBe(false);
    expectBytes(file, model);
    expect(listBlobs()).toEqual([]);
    server.requests.length = 0;
    expect(await resolveModelFile(`${REPO}/${MODEL}`, opts({ offline: true }))).toBe(file);
    expect(server.requests).toEqual([]);
  });
});

describe('broken downloads leave no corrupt cache entry', () => {
  it('a connection cut mid-file leaves only the .incomplete; the next call resumes with Range', async () => {
    const sha = sha256Hex(model);
    server.faults = { cutAfter: 120_000, times: 1 };
    const e = await failure(resolveModelFile(`${REPO}/${MODEL}`, opts()));
    expect(e).toBeInstanceOf(HubError);
    expect((e as HubError).code).toBe('DOWNLOAD_FAILED');
    expect((e as HubError).message).toMatch(/resume/);
    expectNothingCommitted(sha, 'kept');
    const partial = statSync(join(repoDir(), 'blobs', `${sha}.incomplete`)).size;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThanOrEqual(120_000);

    server.requests.length = 0;
    const progress: DownloadProgress[] = [];
    const file = await resolveModelFile(`${REPO}/${MODEL}`, opts({ onProgress: (p) => progress.push(p) }));
    expectBytes(file, model);
    const get = server.requests.find((r) => r.method === 'GET')!;
    expect(get.range).toBe(`bytes=${partial}-`);
    expect(get.status).toBe(206);
    expect(progress[0]!.loaded).toBe(partial);
    expect(progress.at(-1)!.loaded).toBe(model.length);
    expect(listBlobs()).toEqual([sha]);
  });

  it('starts over when the server ignores the Range header (200)', async () => {
    const sha = sha256Hex(model);
    server.faults = { cutAfter: 50_000, times: 1 };
    await failure(resolveModelFile(`${REPO}/${MODEL}`, opts()));
    expect(listBlobs()).toEqual([`${sha}.incomplete`]);
    server.faults = { ignoreRange: true };
    const file = await resolveModelFile(`${REPO}/${MODEL}`, opts());
    expectBytes(file, model);
    expect(server.requests.filter((r) => r.method === 'GET').at(-1)!.status).toBe(200);
    expect(listBlobs()).toEqual([sha]);
  });

  it('refuses bytes whose sha256 is not the etag, deletes them and commits nothing', async () => {
    const sha = sha256Hex(model);
    server.faults = { corrupt: true, times: 1 };
    const e = (await failure(resolveModelFile(`${REPO}/${MODEL}`, opts()))) as HubError;
    expect(e.code).toBe('DOWNLOAD_FAILED');
    expect(e.expected).toBe(`sha256 ${sha}`);
    expect(e.actual).toMatch(/^sha256 [0-9a-f]{64}$/);
    expect(e.actual).not.toBe(e.expected);
    expectNothingCommitted(sha, 'gone');
    // the next try downloads it whole and right
    const file = await resolveModelFile(`${REPO}/${MODEL}`, opts());
    expectBytes(file, model);
  });

  it('refuses a resumed download whose earlier part was damaged (the whole file is hashed)', async () => {
    const sha = sha256Hex(model);
    server.faults = { cutAfter: 100_000, corrupt: true, times: 1 }; // byte 1000 flipped, then the cut
    await failure(resolveModelFile(`${REPO}/${MODEL}`, opts()));
    expect(listBlobs()).toEqual([`${sha}.incomplete`]);
    expect(statSync(join(repoDir(), 'blobs', `${sha}.incomplete`)).size).toBeGreaterThan(1000);
    server.requests.length = 0;
    const e = (await failure(resolveModelFile(`${REPO}/${MODEL}`, opts()))) as HubError;
    expect(server.requests.find((r) => r.method === 'GET')!.status).toBe(206); // it did resume
    expect(e.code).toBe('DOWNLOAD_FAILED');
    expect(e.expected).toBe(`sha256 ${sha}`);
    expectNothingCommitted(sha, 'gone');
  });

  it('refuses a download whose Content-Length is not the announced size, before writing anything', async () => {
    const sha = sha256Hex(model);
    server.faults = { extraBytes: 10, times: 1 };
    const e = (await failure(resolveModelFile(`${REPO}/${MODEL}`, opts()))) as HubError;
    expect(e.code).toBe('DOWNLOAD_FAILED');
    expect(e.expected).toBe(`${model.length} bytes`);
    expect(e.actual).toBe(`Content-Length ${model.length + 10}`);
    expectNothingCommitted(sha, 'gone');

    server.faults = { announceSize: 1000, times: 1 }; // X-Linked-Size says 1000
    const small = (await failure(resolveModelFile(`${REPO}/${MODEL}`, opts()))) as HubError;
    expect(small.expected).toBe('1000 bytes');
    expectNothingCommitted(sha, 'gone');
  });

  it('refuses a streamed (no Content-Length) download that runs past the announced size', async () => {
    const sha = sha256Hex(model);
    server.faults = { extraBytes: 10, noLength: true, times: 1 };
    const e = (await failure(resolveModelFile(`${REPO}/${MODEL}`, opts()))) as HubError;
    expect(e.code).toBe('DOWNLOAD_FAILED');
    expect(e.message).toMatch(/more bytes than/);
    expect(e.expected).toBe(`${model.length} bytes`);
    expectNothingCommitted(sha, 'gone');
  });

  it('a streamed download that ends cleanly but short is not committed; its bytes are kept and resumed', async () => {
    const sha = sha256Hex(model);
    server.faults = { announceSize: model.length + 5 };
    // the CDN sends the real 300000 bytes with no Content-Length; the Hub announced 5 more
    server.faults.noLength = true;
    const e = (await failure(resolveModelFile(`${REPO}/${MODEL}`, opts()))) as HubError;
    expect(e.code).toBe('DOWNLOAD_FAILED');
    expect(e.message).toMatch(/ended early/);
    expect(e.expected).toBe(`${model.length + 5} bytes`);
    expect(e.actual).toBe(`${model.length} bytes`);
    expectNothingCommitted(sha, 'kept');
    // the next try asks for the rest (past the end: 416), starts over, and gets the right file
    server.faults = {};
    const file = await resolveModelFile(`${REPO}/${MODEL}`, opts());
    expectBytes(file, model);
  });

  it('refuses a regular file whose Content-Length differs from the announced size', async () => {
    server.faults = { announceSize: config.length + 5 };
    const e = (await failure(resolveModelFile(`${REPO}/config/sub/config.json`, opts()))) as HubError;
    expect(e.code).toBe('DOWNLOAD_FAILED');
    expect(e.expected).toBe(`${config.length + 5} bytes`);
    expect(e.actual).toBe(`Content-Length ${config.length}`);
    expect(listBlobs()).toEqual([]);
    expect(existsSync(join(repoDir(), 'snapshots'))).toBe(false);
    expect(existsSync(join(repoDir(), 'refs'))).toBe(false);
  });
});

describe('errors', () => {
  it('404 for an unknown file: NOT_FOUND_ON_HUB naming the repo, the file and the status', async () => {
    const e = (await failure(resolveModelFile(`${REPO}/no-such-model.pth`, opts()))) as HubError;
    expect(e).toBeInstanceOf(RwkvError);
    expect(e.code).toBe('NOT_FOUND_ON_HUB');
    expect(e.status).toBe(404);
    expect(e.repo).toBe(REPO);
    expect(e.path).toBe('no-such-model.pth');
    expect(e.message).toContain(`${REPO}/no-such-model.pth`);
    expect(e.message).toContain('404');
    expect(e.message).toContain(`${server.url}/${REPO}/resolve/main/no-such-model.pth`);
    expect(existsSync(repoDir())).toBe(false);
  });

  it('unknown repository and unknown revision are NOT_FOUND_ON_HUB too', async () => {
    const repo = (await failure(resolveModelFile(`BlinkDL/nothing/${MODEL}`, opts()))) as HubError;
    expect(repo.code).toBe('NOT_FOUND_ON_HUB');
    expect(repo.message).toContain('BlinkDL/nothing');
    expect(repo.message).toMatch(/HF_TOKEN/);
    const rev = (await failure(resolveModelFile(`${REPO}@nope/${MODEL}`, opts()))) as HubError;
    expect(rev.code).toBe('NOT_FOUND_ON_HUB');
    expect(rev.message).toContain('"nope"');
  });

  it('a server that is not a Hub (no X-Repo-Commit) is a DOWNLOAD_FAILED, not a cache entry', async () => {
    const { createServer } = await import('node:http');
    const plain = createServer((_req, res) => res.writeHead(200, { 'Content-Length': 3 }).end('abc'));
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', () => r()));
    try {
      const endpoint = `http://127.0.0.1:${(plain.address() as import('node:net').AddressInfo).port}`;
      const e = (await failure(resolveModelFile(`${REPO}/${MODEL}`, opts({ endpoint })))) as HubError;
      expect(e.code).toBe('DOWNLOAD_FAILED');
      expect(e.message).toContain('X-Repo-Commit');
      expect(existsSync(repoDir())).toBe(false);
    } finally {
      plain.closeAllConnections();
      await new Promise<void>((r) => plain.close(() => r()));
    }
  });

  it('a stalled download fails after readTimeoutMs and keeps the bytes for a resume', async () => {
    const sha = sha256Hex(model);
    server.faults = { stallAfter: 64_000, times: 1 };
    const e = (await failure(resolveModelFile(`${REPO}/${MODEL}`, opts({ readTimeoutMs: 300 })))) as HubError;
    expect(e.code).toBe('DOWNLOAD_FAILED');
    expect(e.message).toMatch(/no answer for 300 ms/);
    // one GET, given up by the client (a stall never ends on its own), not retried
    const gets = server.requests.filter((r) => r.method === 'GET');
    expect(gets.map((r) => `${r.host} ${r.status}`)).toEqual(['cdn 200']);
    expect(await gets[0]!.settled).toBe('abandoned');
    expectNothingCommitted(sha, 'kept');
  });
});

describe('token', () => {
  it('sends the token to the Hub only, never to the CDN; without it the private repo is not found', async () => {
    const file = await resolveModelFile('BlinkDL/private/m.pth', opts({ token: 'hf_test' }));
    expectBytes(file, secret);
    expect(server.requests.map((r) => `${r.host} ${r.authorization ?? '-'}`)).toEqual(['hub Bearer hf_test', 'cdn -']);

    rmSync(cacheDir, { recursive: true, force: true });
    const e = (await failure(resolveModelFile('BlinkDL/private/m.pth', opts()))) as HubError;
    expect(e.code).toBe('NOT_FOUND_ON_HUB');
    expect(e.status).toBe(401);
  });

  it('reads HF_TOKEN from the environment', async () => {
    const { token: _unused, ...rest } = opts();
    await resolveModelFile('BlinkDL/private/m.pth', { ...rest, env: { HF_TOKEN: 'hf_test' } });
    expect(server.requests[0]!.authorization).toBe('Bearer hf_test');
  });
});

describe('progress and abort', () => {
  it('progress is monotonic, names the file, and ends at the total', async () => {
    const progress: DownloadProgress[] = [];
    server.faults = { paceMs: 2 }; // the body in 16 kB pieces, 2 ms apart
    await resolveModelFile(`${REPO}/${MODEL}`, opts({ onProgress: (p) => progress.push({ ...p }) }));
    expect(progress.length).toBeGreaterThan(5);
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.loaded).toBeGreaterThanOrEqual(progress[i - 1]!.loaded);
    expect(progress.every((p) => p.total === model.length && p.file === MODEL && p.repo === REPO && p.phase === 'download')).toBe(true);
    expect(progress[0]!.loaded).toBe(0);
    expect(progress.at(-1)!.loaded).toBe(model.length);
    // a cached file reports nothing
    progress.length = 0;
    await resolveModelFile(`${REPO}/${MODEL}`, opts({ onProgress: (p) => progress.push(p) }));
    expect(progress).toEqual([]);
  });

  it('an AbortSignal stops the download with its reason, keeps the partial file, and a later call resumes', async () => {
    const sha = sha256Hex(model);
    server.faults = { stallAfter: 64_000, times: 1 };
    const ctl = new AbortController();
    const reason = new Error('user pressed ctrl-c');
    const e = await failure(
      resolveModelFile(`${REPO}/${MODEL}`, opts({ signal: ctl.signal, onProgress: (p) => p.loaded > 0 && ctl.abort(reason) })),
    );
    expect(e).toBe(reason);
    expectNothingCommitted(sha, 'kept');

    const file = await resolveModelFile(`${REPO}/${MODEL}`, opts());
    expectBytes(file, model);
    expect(server.requests.filter((r) => r.method === 'GET').at(-1)!.range).toMatch(/^bytes=[1-9]\d*-$/);
  });

  it('an already aborted signal rejects with an AbortError before any request', async () => {
    const ctl = new AbortController();
    ctl.abort();
    const e = await failure(resolveModelFile(`${REPO}/${MODEL}`, opts({ signal: ctl.signal })));
    expect((e as Error).name).toBe('AbortError');
    expect(server.requests).toEqual([]);
  });
});

describe('concurrency', () => {
  it('two calls for the same file at once download it once', async () => {
    const [a, b] = await Promise.all([resolveModelFile(`${REPO}/${MODEL}`, opts()), resolveModelFile(`${REPO}/${MODEL}`, opts())]);
    expect(a).toBe(b);
    expectBytes(a, model);
    expect(server.requests.filter((r) => r.method === 'GET').length).toBe(1);
  });
});

describe('local paths', () => {
  it('returns an existing local file as it is, with no request', async () => {
    const local = join(cacheDir, 'model.pth');
    (await import('node:fs')).writeFileSync(local, 'x');
    expect(await resolveModelFile(local, opts())).toBe(local);
    expect(await resolveModelFile('x.pth', opts())).toBe('x.pth');
    expect(server.requests).toEqual([]);
  });
});
