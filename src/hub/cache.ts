// The Hugging Face cache layout, the same one Python's huggingface_hub reads and writes, so a model
// downloaded by either is found by the other:
//
//   {cache}/models--{org}--{name}/
//     blobs/{etag}                  the file's bytes; etag = sha256 (LFS files) or git blob sha1
//     blobs/{etag}.incomplete       a download in progress (resumed from its length)
//     snapshots/{commit}/{path}     relative symlink to ../../blobs/{etag} (one more ../ per folder
//                                   in path); a plain file where symlinks cannot be made
//     refs/{revision}               the commit a branch or tag pointed to, no newline
//
// cache = HF_HUB_CACHE ?? HUGGINGFACE_HUB_CACHE (the legacy name) ?? $HF_HOME/hub
//         ?? $XDG_CACHE_HOME/huggingface/hub ?? ~/.cache/huggingface/hub
// (huggingface_hub's constants.py; @huggingface/hub's getHFHubCachePath reads the same variables)

import { copyFile, mkdir, readFile, rename, rm, stat, symlink, writeFile, realpath } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';

export type Env = Readonly<Record<string, string | undefined>>;

const COMMIT_HASH = /^[0-9a-f]{40}$/;

/** A full 40-hex git commit hash (a revision that can never move). */
export function isCommitHash(revision: string): boolean {
  return COMMIT_HASH.test(revision);
}

function envPath(env: Env, name: string): string | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  return v === '~' || v.startsWith('~/') ? join(homedir(), v.slice(1)) : v;
}

/** The Hub cache folder, resolved from the environment as Python's huggingface_hub does. */
export function hubCacheDir(env: Env = process.env): string {
  const hubCache = envPath(env, 'HF_HUB_CACHE') ?? envPath(env, 'HUGGINGFACE_HUB_CACHE');
  if (hubCache !== undefined) return hubCache;
  return join(hfHome(env), 'hub');
}

/** `$HF_HOME` ?? `$XDG_CACHE_HOME/huggingface` ?? `~/.cache/huggingface` (also where Python keeps the token). */
export function hfHome(env: Env = process.env): string {
  return envPath(env, 'HF_HOME') ?? join(envPath(env, 'XDG_CACHE_HOME') ?? join(homedir(), '.cache'), 'huggingface');
}

/** `org/name` → `models--org--name`. */
export function repoFolderName(repo: string): string {
  return ['models', ...repo.split('/')].join('--');
}

/** The paths of one repository's cache folder. */
export class RepoCache {
  readonly root: string;
  constructor(
    readonly cacheDir: string,
    readonly repo: string,
  ) {
    this.root = join(cacheDir, repoFolderName(repo));
  }
  blob(etag: string): string {
    return join(this.root, 'blobs', etag);
  }
  incomplete(etag: string): string {
    return `${this.blob(etag)}.incomplete`;
  }
  snapshot(commit: string, path: string): string {
    return join(this.root, 'snapshots', commit, ...path.split('/'));
  }
  ref(revision: string): string {
    return join(this.root, 'refs', ...revision.split('/'));
  }

  /** The commit a revision points to: itself for a commit hash, else the content of refs/{revision}. */
  async commitOf(revision: string): Promise<string | undefined> {
    if (isCommitHash(revision)) return revision;
    let text: string;
    try {
      text = await readFile(this.ref(revision), 'utf8');
    } catch {
      return undefined;
    }
    const commit = text.trim();
    return isCommitHash(commit) ? commit : undefined;
  }

  /** The cached file for (revision, path), or undefined when it is not in the cache. */
  async find(revision: string, path: string): Promise<string | undefined> {
    const commit = await this.commitOf(revision);
    if (commit === undefined) return undefined;
    const file = this.snapshot(commit, path);
    return (await isFile(file)) ? file : undefined;
  }

  /** Record that `revision` now points to `commit` (nothing to do for a commit hash). */
  async writeRef(revision: string, commit: string): Promise<void> {
    if (revision === commit) return;
    const file = this.ref(revision);
    if ((await readFile(file, 'utf8').catch(() => undefined)) === commit) return;
    await mkdir(dirname(file), { recursive: true });
    await atomicWrite(file, commit);
  }

  /**
   * Make snapshots/{commit}/{path} point to blobs/{etag}: a relative symlink, or, where symlinks
   * fail (Windows without developer mode, some network filesystems) or `symlinks` is false, the
   * file itself: moved there when the blob was just downloaded (`newBlob`), copied otherwise (as
   * Python does, so that other snapshots using the blob keep working).
   */
  async linkSnapshot(etag: string, commit: string, path: string, opts: { newBlob: boolean; symlinks?: boolean }): Promise<string> {
    const blob = this.blob(etag);
    const pointer = this.snapshot(commit, path);
    await mkdir(dirname(pointer), { recursive: true });
    await rm(pointer, { force: true });
    if (opts.symlinks !== false) {
      try {
        await symlink(relative(dirname(pointer), blob), pointer);
        return pointer;
      } catch (e) {
        // made at the same moment by a concurrent download of the same file: fine
        if ((e as NodeJS.ErrnoException).code === 'EEXIST' && (await sameFile(pointer, blob))) return pointer;
      }
    }
    if (opts.newBlob) {
      await rename(blob, pointer);
    } else {
      const tmp = tmpName(pointer);
      await copyFile(blob, tmp);
      await rename(tmp, pointer);
    }
    return pointer;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function sameFile(a: string, b: string): Promise<boolean> {
  try {
    return (await realpath(a)) === (await realpath(b));
  } catch {
    return false;
  }
}

let tmpCount = 0;

/** A name next to `file` that no other writer (in this process or another) uses. */
function tmpName(file: string): string {
  return `${file}.tmp-${process.pid}-${++tmpCount}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Write next to the target, then rename: a reader never sees a half-written file. */
async function atomicWrite(file: string, text: string): Promise<void> {
  const tmp = tmpName(file);
  await writeFile(tmp, text);
  await rename(tmp, file);
}
