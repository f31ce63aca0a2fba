// Hub references (src/hub/ref.ts) and cache paths (src/hub/cache.ts): syntax, local-vs-Hub
// decision, and the cache folder chosen from the environment as Python's huggingface_hub does.

import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fc, test as fcTest } from '@fast-check/vitest';
import { afterAll, describe, expect, it } from 'vitest';
import { RwkvError } from '../../src/errors.ts';
import { hubCacheDir, isCommitHash, RepoCache, repoFolderName } from '../../src/hub/cache.ts';
import { checkHubRef, formatHubRef, locateModel, looksLikeLocalPath, parseHubRef } from '../../src/hub/ref.ts';

const C = '0123456789abcdef0123456789abcdef01234567';
const tmp = mkdtempSync(join(tmpdir(), 'rwkv-hubref-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function invalid(f: () => unknown): RwkvError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(RwkvError);
    expect((e as RwkvError).code).toBe('INVALID_ARGUMENT');
    return e as RwkvError;
  }
  throw new Error('expected INVALID_ARGUMENT');
}

describe('parseHubRef', () => {
  it('reads org/name/path, with main as the default revision', () => {
    expect(parseHubRef('BlinkDL/rwkv-7-world/RWKV-x070-World-0.1B-v2.8-20241210-ctx4096.pth')).toEqual({
      repo: 'BlinkDL/rwkv-7-world',
      revision: 'main',
      path: 'RWKV-x070-World-0.1B-v2.8-20241210-ctx4096.pth',
    });
    expect(parseHubRef('a/b/dir/sub/model.safetensors').path).toBe('dir/sub/model.safetensors');
  });

  it('reads @revision (branch, commit, percent-encoded branch with "/") and hf:// and Hub URLs', () => {
    expect(parseHubRef(`a/b@${C}/m.pth`)).toEqual({ repo: 'a/b', revision: C, path: 'm.pth' });
    expect(parseHubRef('a/b@v1.0/m.pth').revision).toBe('v1.0');
    expect(parseHubRef('a/b@refs%2Fpr%2F3/m.pth').revision).toBe('refs/pr/3');
    expect(parseHubRef('hf://a/b/m.pth')).toEqual({ repo: 'a/b', revision: 'main', path: 'm.pth' });
    expect(parseHubRef('https://huggingface.co/BlinkDL/rwkv-7-world/resolve/main/x%20y.pth?download=true')).toEqual({
      repo: 'BlinkDL/rwkv-7-world',
      revision: 'main',
      path: 'x y.pth',
    });
    expect(parseHubRef(`https://hf.co/a/b/blob/${C}/d/m.pth`)).toEqual({ repo: 'a/b', revision: C, path: 'd/m.pth' });
  });

  it('takes the file and the revision separately', () => {
    expect(parseHubRef('a/b', { file: 'd/m.pth' })).toEqual({ repo: 'a/b', revision: 'main', path: 'd/m.pth' });
    expect(parseHubRef('a/b', { file: 'm.pth', revision: 'dev' }).revision).toBe('dev');
    expect(parseHubRef('a/b@dev/m.pth', { revision: 'dev' }).revision).toBe('dev');
  });

  it('refuses malformed references with INVALID_ARGUMENT naming the problem', () => {
    expect(invalid(() => parseHubRef('a/b')).message).toMatch(/no file/);
    expect(invalid(() => parseHubRef('a/b')).hint).toContain('a/b/FILE.pth');
    expect(invalid(() => parseHubRef('a/b/m.pth', { file: 'n.pth' })).message).toMatch(/already names a file/);
    expect(invalid(() => parseHubRef('a/b@x/m.pth', { revision: 'y' })).message).toMatch(/revision/);
    for (const bad of [
      'a/b/../m.pth',
      'a/b/d//m.pth',
      'a/b/./m',
      'a--x/b/m',
      'a/-b/m',
      'a/b./m',
      'a/b@/m',
      'a/b@..%2Fx/m',
      'a/b@%zz/m',
      'a b/c/m',
      'https://huggingface.co/a/b/tree/main/m',
    ]) {
      invalid(() => parseHubRef(bad));
    }
  });

  it('checkHubRef refuses hand-built refs that would escape the cache folder', () => {
    expect(checkHubRef({ repo: 'a/b', revision: 'refs/pr/1', path: 'd/m.pth' })).toEqual({
      repo: 'a/b',
      revision: 'refs/pr/1',
      path: 'd/m.pth',
    });
    invalid(() => checkHubRef({ repo: 'a/b', revision: 'main', path: '../../../etc/x' }));
    invalid(() => checkHubRef({ repo: 'a/b', revision: '../x', path: 'm' }));
    invalid(() => checkHubRef({ repo: 'a/b/c', revision: 'main', path: 'm' }));
    invalid(() => checkHubRef({ repo: '../b', revision: 'main', path: 'm' }));
  });

  fcTest.prop([
    fc.stringMatching(/^[A-Za-z0-9_][\w-]{0,10}[A-Za-z0-9]$/),
    fc.stringMatching(/^[A-Za-z0-9][\w-]{0,10}[A-Za-z0-9_]$/),
    fc.oneof(fc.constant('main'), fc.stringMatching(/^[0-9a-f]{40}$/), fc.stringMatching(/^[\w.-]{1,8}(\/[\w-]{1,5}){0,2}$/)),
    fc.array(fc.stringMatching(/^[\w .()+-]{1,12}$/), { minLength: 1, maxLength: 3 }),
  ])('formatHubRef and parseHubRef round-trip', (owner, name, revision, parts) => {
    fc.pre(!`${owner}${name}`.includes('--') && !parts.some((p) => p.trim() === '' || p === '.' || p === '..'));
    fc.pre(!revision.split('/').some((p) => p === '.' || p === '..'));
    const ref = { repo: `${owner}/${name}`, revision, path: parts.join('/') };
    expect(parseHubRef(formatHubRef(ref))).toEqual(ref);
  });
});

describe('locateModel: local file or Hub?', () => {
  it('an existing local file always wins, even one shaped like a Hub reference', async () => {
    mkdirSync(join(tmp, 'org', 'repo'), { recursive: true });
    writeFileSync(join(tmp, 'org', 'repo', 'm.pth'), 'x');
    const cwd = process.cwd();
    process.chdir(tmp);
    try {
      expect(await locateModel('org/repo/m.pth')).toEqual({ kind: 'local', path: 'org/repo/m.pth' });
      expect(await locateModel('org/repo/other.pth')).toEqual({
        kind: 'hub',
        ref: { repo: 'org/repo', revision: 'main', path: 'other.pth' },
      });
    } finally {
      process.chdir(cwd);
    }
  });

  it('./x, /x, ~/x, C:\\x, x.pth and dir/x.pth are local; org/name/x and org/name + file are the Hub', async () => {
    for (const p of ['./a/b/c.pth', '../a/b/c', '/a/b/c.pth', '~/a/b/c', 'C:\\m\\x.pth', 'x.pth', 'models/x.safetensors']) {
      expect((await locateModel(p)).kind, p).toBe('local');
    }
    expect(looksLikeLocalPath('hf://a/b/c')).toBe(false);
    expect(await locateModel('a/b/c.pth')).toEqual({ kind: 'hub', ref: { repo: 'a/b', revision: 'main', path: 'c.pth' } });
    expect(await locateModel('a/b', { file: 'c.pth' })).toEqual({ kind: 'hub', ref: { repo: 'a/b', revision: 'main', path: 'c.pth' } });
    expect((await locateModel(`hf://a/b@${C}/c.pth`)).kind).toBe('hub');
  });

  it('org/name alone is an error that says to name the file', async () => {
    const e = await locateModel('BlinkDL/rwkv-7-world').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RwkvError);
    expect((e as RwkvError).code).toBe('INVALID_ARGUMENT');
    expect((e as RwkvError).message).toContain('no local file "BlinkDL/rwkv-7-world"');
    expect((e as RwkvError).message).toContain('BlinkDL/rwkv-7-world/FILE.pth');
  });
});

describe('cache paths', () => {
  it('picks HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, then $HF_HOME/hub, $XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub', () => {
    const all = { HF_HUB_CACHE: '/h/c', HUGGINGFACE_HUB_CACHE: '/h/legacy', HF_HOME: '/h/home', XDG_CACHE_HOME: '/x' };
    expect(hubCacheDir(all)).toBe('/h/c');
    expect(hubCacheDir({ ...all, HF_HUB_CACHE: '' })).toBe('/h/legacy');
    expect(hubCacheDir({ ...all, HF_HUB_CACHE: '', HUGGINGFACE_HUB_CACHE: undefined })).toBe(join('/h/home', 'hub'));
    expect(hubCacheDir({ XDG_CACHE_HOME: '/x' })).toBe(join('/x', 'huggingface', 'hub'));
    expect(hubCacheDir({})).toBe(join(homedir(), '.cache', 'huggingface', 'hub'));
    expect(hubCacheDir({ HF_HOME: '~/hf' })).toBe(join(homedir(), 'hf', 'hub'));
  });

  it('names the repo folder models--org--name and recognises commit hashes', () => {
    expect(repoFolderName('BlinkDL/rwkv-7-world')).toBe('models--BlinkDL--rwkv-7-world');
    expect(isCommitHash(C)).toBe(true);
    expect(isCommitHash('main')).toBe(false);
    expect(isCommitHash(C.toUpperCase())).toBe(false);
    expect(isCommitHash(C.slice(1))).toBe(false);
  });

  it('finds a file cached by Python (refs/main → snapshot symlink → blob) without the network', async () => {
    const cache = new RepoCache(join(tmp, 'py-cache'), 'org/name');
    mkdirSync(join(cache.root, 'blobs'), { recursive: true });
    mkdirSync(join(cache.root, 'refs'), { recursive: true });
    mkdirSync(join(cache.root, 'snapshots', C, 'sub'), { recursive: true });
    writeFileSync(join(cache.root, 'blobs', 'abc123'), 'weights');
    writeFileSync(join(cache.root, 'refs', 'main'), C);
    symlinkSync(join('..', '..', '..', 'blobs', 'abc123'), join(cache.root, 'snapshots', C, 'sub', 'm.pth'));
    expect(await cache.find('main', 'sub/m.pth')).toBe(join(cache.root, 'snapshots', C, 'sub', 'm.pth'));
    expect(await cache.find(C, 'sub/m.pth')).toBe(join(cache.root, 'snapshots', C, 'sub', 'm.pth'));
    expect(await cache.find('dev', 'sub/m.pth')).toBeUndefined(); // no refs/dev
    expect(await cache.find('main', 'm.pth')).toBeUndefined();
    // a dangling link (blob deleted) is not a cached file
    rmSync(join(cache.root, 'blobs', 'abc123'));
    expect(await cache.find('main', 'sub/m.pth')).toBeUndefined();
    // a ref that holds something other than a commit hash is ignored
    writeFileSync(join(cache.root, 'refs', 'main'), '../../etc');
    expect(await cache.commitOf('main')).toBeUndefined();
  });
});
