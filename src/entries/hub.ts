// `rwkv/hub`: the Hugging Face Hub below the main API's resolveModelFile: references
// (ORG/REPO[@REVISION]/PATH), the cache Python shares, downloads, and the typed HubError.
// test/architecture/exports.test.ts lists every name.

export { DEFAULT_REVISION, formatHubRef, locateModel, parseHubRef, type ModelLocation, type RefOptions } from '../hub/ref.ts';
export { hubCacheDir } from '../hub/cache.ts';
export { DEFAULT_ENDPOINT, HubError, downloadHubFile, findCachedHubFile } from '../hub/download.ts';
