// The public API, name by name. Every entry point of package.json "exports" is imported from
// source and its runtime export names are compared with the list written here, so that every
// name a user can import is added (or removed) on purpose, in a diff someone reads. Types are not
// runtime names and are not listed; tsc checks them. The entries: `rwkv` (src/index.ts: the ~20
// names most code needs), `rwkv/browser` (src/browser.ts), the subpaths of src/entries/ (the rest
// of the library, each name in one place) and `rwkv/reference`.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/fixtures.ts';

/** What the browser build has and `rwkv` has not, and the reverse (names that need files by path). */
const BROWSER_ONLY = ['WasmBackend', 'sharedMemoryAvailable'];
const NODE_ONLY = ['convertModel', 'loadTokenizer', 'resolveModelFile'];

/** The sorted runtime export names of every entry point, by its package.json "exports" key. */
const EXPECTED: Record<string, string[]> = {
  '.': [
    'BytesTokenizer',
    'ChatSession',
    'ERROR_CODES',
    'NeoxTokenizer',
    'RwkvError',
    'RwkvModel',
    'RwkvState',
    'WorldTokenizer',
    'convertModel',
    'createBackend',
    'decodeStateFile',
    'detectStateFileFormat',
    'encodeStateFile',
    'generate',
    'generateText',
    'lambada',
    'loadTokenizer',
    'parseLambadaJsonl',
    'perplexity',
    'resolveModelFile',
  ],
  './browser': [
    'BytesTokenizer',
    'ChatSession',
    'ERROR_CODES',
    'NeoxTokenizer',
    'RwkvError',
    'RwkvModel',
    'RwkvState',
    'WasmBackend',
    'WorldTokenizer',
    'createBackend',
    'decodeStateFile',
    'detectStateFileFormat',
    'encodeStateFile',
    'generate',
    'generateText',
    'lambada',
    'parseLambadaJsonl',
    'perplexity',
    'sharedMemoryAvailable',
  ],
  './reference': ['constants', 'createReferenceModel'],
  './formats': [
    'FORMATS',
    'FileSource',
    'MemorySource',
    'STATE_FILE_FORMATS',
    'STATE_FORMAT_VERSION',
    'STATE_LAYOUT_NAMES',
    'STATE_MAGIC',
    'VERSIONS',
    'WRITERS',
    'decodeState',
    'detectConfig',
    'detectVersion',
    'encodeState',
    'exportState',
    'importState',
    'loadCheckpoint',
    'mergeLora',
    'parseCheckpoint',
    'writerFor',
  ],
  './tokenizer': [
    'BYTES_VOCAB_SIZE',
    'END_OF_TEXT',
    'NEOX_TOKENIZER_ENV',
    'NEOX_TOKENIZER_FILE',
    'NEOX_TOKENIZER_URLS',
    'NEOX_VOCAB_SIZE',
    'TOKENIZER_BY_VOCAB_SIZE',
    'Utf8StreamDecoder',
    'WORLD_VOCAB_ENV',
    'WORLD_VOCAB_FILE',
    'WORLD_VOCAB_SIZE',
    'WORLD_VOCAB_URLS',
    'ggufTokenizer',
    'parseWorldVocab',
  ],
  './generate': [
    'CHAT_DEFAULTS',
    'DEFAULT_MAX_TOKENS',
    'PIPELINE_DEFAULTS',
    'Pcg32',
    'Penalties',
    'StopStrings',
    'argmax',
    'createRng',
    'drawFrom',
    'generateSteps',
    'logProb',
    'sampleLogits',
    'samplingParams',
    'samplingProbs',
    'softmax',
  ],
  './hub': [
    'DEFAULT_ENDPOINT',
    'DEFAULT_REVISION',
    'HubError',
    'downloadHubFile',
    'findCachedHubFile',
    'formatHubRef',
    'hubCacheDir',
    'locateModel',
    'parseHubRef',
  ],
  './backends': [
    'BACKEND_NAMES',
    'OPTIONAL_OPS',
    'STRATEGY_DEVICES',
    'STRATEGY_DTYPES',
    'STRATEGY_GRAMMAR',
    'TsBackend',
    'WasmBackend',
    'allocateLayers',
    'closeStrategy',
    'openStrategy',
    'parseStrategy',
    'placeLayers',
    'selectBackend',
    'sharedMemoryAvailable',
  ],
};

const ON_PURPOSE =
  'the exported names changed: if that is on purpose, update EXPECTED in test/architecture/exports.test.ts (and README "The API")';

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };

/** The source file of an entry: its declarations' path (./dist/src/x.d.ts → src/x.ts). */
function sourceOf(key: string): string {
  const target = pkg.exports[key] as { types?: string; default?: string };
  const types = target.types ?? '';
  expect(types, `package.json exports["${key}"].types`).toMatch(/^\.\/dist\/.+\.d\.ts$/);
  return types.slice('./dist/'.length).replace(/\.d\.ts$/, '.ts');
}

async function namesOf(key: string): Promise<string[]> {
  const mod = (await import(join(REPO_ROOT, sourceOf(key)))) as Record<string, unknown>;
  return Object.keys(mod).sort();
}

describe('public API', () => {
  const keys = Object.keys(pkg.exports).filter((k) => k !== './package.json');

  it('every entry of package.json "exports" has its list here, and every list an entry', () => {
    expect(keys.sort(), 'package.json "exports" and EXPECTED disagree').toEqual(Object.keys(EXPECTED).sort());
  });

  it('each subpath entry takes its declarations and code from the same source file', () => {
    for (const key of keys.filter((k) => k !== './browser')) {
      const target = pkg.exports[key] as { types: string; default: string };
      expect(target.default.replace(/\.js$/, ''), key).toBe(target.types.replace(/\.d\.ts$/, ''));
    }
    expect((pkg.exports['./browser'] as { default: string }).default).toBe('./dist/browser/rwkv.js');
  });

  for (const [key, expected] of Object.entries(EXPECTED)) {
    it(`rwkv${key.slice(1)} exports exactly its list`, async () => {
      expect(expected, `EXPECTED["${key}"] is not sorted`).toEqual([...expected].sort());
      expect(await namesOf(key), `rwkv${key.slice(1)}: ${ON_PURPOSE}`).toEqual(expected);
    });
  }

  it('each name has one home among the Node entries: the main entry and the subpaths share none', () => {
    const seen = new Map<string, string>();
    const twice: string[] = [];
    for (const [key, names] of Object.entries(EXPECTED)) {
      if (key === './browser' || key === './reference') continue;
      for (const n of names) {
        const other = seen.get(n);
        if (other !== undefined) twice.push(`${n} (${other} and ${key})`);
        seen.set(n, key);
      }
    }
    expect(twice).toEqual([]);
  });

  it('the browser entry is the main entry without what needs file paths, plus the WASM backend', () => {
    const main = EXPECTED['.']!;
    const browser = EXPECTED['./browser']!;
    expect(browser).toEqual([...main.filter((n) => !NODE_ONLY.includes(n)), ...BROWSER_ONLY].sort());
  });
});
