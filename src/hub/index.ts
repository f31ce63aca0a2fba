// Models from the Hugging Face Hub: references, the Python-compatible cache, downloads.
export {
  checkHubRef,
  DEFAULT_REVISION,
  formatHubRef,
  locateModel,
  looksLikeLocalPath,
  parseHubRef,
  type HubRef,
  type ModelLocation,
  type RefOptions,
} from './ref.ts';
export { hubCacheDir, isCommitHash, RepoCache, repoFolderName } from './cache.ts';
export {
  DEFAULT_ENDPOINT,
  downloadHubFile,
  findCachedHubFile,
  HubError,
  resolveModelFile,
  type DownloadProgress,
  type ResolveModelOptions,
} from './download.ts';
