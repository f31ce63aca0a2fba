// What a new user hits first, each driven through the CLI's main() (or the module a message
// comes from): help for every command and --version, negative and out-of-range values, absurd
// token counts, an empty model file, a state-tuning file given as the model, a --vocab that is a
// directory or a saved HTML page, convert to GGUF finding the vocabulary, `info` reading headers
// only, and the browser build's hint naming constructors the bundle exports. No shared fixtures:
// the files are made here.

import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as browser from '../../src/browser.ts';
import { COMMANDS } from '../../src/cli/main.ts';
import { runCli as run } from '../helpers/cli.ts';
import { modelInfo } from '../../src/cli/model.ts';
import { safetensorsWriter } from '../../src/io/safetensors-write.ts';
import { MemorySink } from '../../src/io/write.ts';
import * as browserFiles from '../../src/platform/files.browser.ts';
import { type Checkpoint, lazyTensor } from '../../src/tensor/tensor.ts';
import { REPO_ROOT } from '../helpers/fixtures.ts';
import { randomCheckpoint } from '../helpers/random-model.ts';

/** A usage error: exit 2, nothing on stdout, one line on stderr containing `message`. */
async function expectUsageError(args: string[], message: string | RegExp): Promise<void> {
  const r = await run(args);
  expect(r.code, args.join(' ')).toBe(2);
  expect(r.out).toBe('');
  expect(r.err.split('\n'), args.join(' ')).toHaveLength(1);
  expect(r.err).toMatch(message);
}

const tmp = mkdtempSync(join(tmpdir(), 'rwkv-cli-newcomer-'));

function safetensorsBytes(ckpt: Checkpoint): Uint8Array {
  const sink = new MemorySink();
  safetensorsWriter.write(ckpt, sink, {});
  return sink.bytes();
}

/** A one-layer RWKV-7 with a vocabulary of `nVocab` ids (not 256: it needs a tokenizer file). */
function smallV7(nVocab: number): Checkpoint {
  return randomCheckpoint({
    version: '7',
    nLayer: 1,
    nHead: 1,
    headSize: 64,
    nFfn: 128,
    nVocab,
    ranks: { maa: 0, decay: 0, w: 32, a: 32, v: 32, g: 32, s: 0 },
    timeState: false,
    seed: 7,
  });
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('help and version', () => {
  it('rwkv --help lists every command of the table, bench included', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    const listed = [...r.out.matchAll(/^ {2}([a-z]+) {2,}\S/gm)].map((m) => m[1]);
    expect(listed).toEqual(COMMANDS.map((c) => c.name));
    expect(listed).toContain('bench');
    // no command: the same text, exit 2
    const none = await run([]);
    expect(none.code).toBe(2);
    expect(none.out).toBe(r.out);
  });

  it('rwkv <command> --help and rwkv help <command> print that command’s usage and options', async () => {
    for (const c of COMMANDS) {
      const r = await run([c.name, '--help']);
      expect(r.code, c.name).toBe(0);
      expect(r.out).toMatch(new RegExp(`^usage: rwkv ${c.name} `));
      for (const o of c.options) expect(r.out, `${c.name} --${o}`).toContain(`--${o}`);
      expect((await run(['help', c.name])).out).toBe(r.out);
    }
    expect((await run(['forward', '--help'])).out).not.toContain('--temperature');
  });

  it('an option the command does not take is refused, naming the command', async () => {
    await expectUsageError(['info', '--model', 'm.pth', '--temperature', '0'], 'info takes no --temperature (see rwkv info --help)');
    await expectUsageError(['frobnicate'], /unknown command "frobnicate" \(commands: info, .*, bench\) \(see rwkv --help\)/);
  });

  it("README's CLI block lists every command of the table", () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const block = /^## CLI\n+```\n([\s\S]*?)\n```/m.exec(readme)?.[1] ?? '';
    const listed = [...block.matchAll(/^rwkv ([a-z]+)/gm)].map((m) => m[1]);
    expect(listed).toEqual(COMMANDS.map((c) => c.name));
  });

  it("rwkv --version prints package.json's version", async () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = await run(['--version']);
    expect(r.code).toBe(0);
    expect(r.out).toBe(pkg.version);
  });
});

describe('argument values: exit 2, in CLI words', () => {
  const gen = ['generate', '--model', join(tmp, 'absent.pth')];

  it('negative numbers are values (with or without =), then checked against the range', async () => {
    for (const args of [['--temperature', '-1'], ['--temperature=-1']])
      await expectUsageError([...gen, ...args, 'x'], '--temperature must be a number ≥ 0 (0 = greedy), got -1');
    await expectUsageError([...gen, '--top-p', '-0.5', 'x'], '--top-p must be a number in [0, 1], got -0.5');
    await expectUsageError([...gen, '--top-p', '1.5', 'x'], '--top-p must be a number in [0, 1], got 1.5');
    await expectUsageError([...gen, '--top-k', '-1', 'x'], '--top-k must be an integer ≥ 0 (0 = off), got -1');
    await expectUsageError([...gen, '--alpha-decay', '-.5', 'x'], '--alpha-decay must be a number ≥ 0');
    await expectUsageError([...gen, '-n', '-5', 'x'], '--count must be a positive integer, got "-5"');
    await expectUsageError([...gen, '--seed', '-3', 'x'], '--seed must be a non-negative integer');
    for (const r of [await run([...gen, '--temperature', '-1', 'x']), await run([...gen, '--top-p', '2', 'x'])]) {
      expect(r.err).not.toMatch(/ambiguous|topP|temperature is out of range/);
    }
    // a negative penalty is allowed: the command gets as far as the (missing) model file
    const ok = await run([...gen, '--alpha-presence', '-0.1', 'x']);
    expect(ok.code).toBe(1);
    expect(ok.err).toMatch(/absent\.pth/);
  });

  it('an unknown --tokenizer is a usage error, before any model is loaded', async () => {
    await expectUsageError([...gen, '--tokenizer', 'gpt2', 'x'], '--tokenizer must be world, 20b, bytes or the path');
    await expectUsageError(['tokenize', '--tokenizer', 'gpt2', 'x'], '--tokenizer must be world, 20b, bytes or the path');
  });

  it('an absurd token count is refused before any model is loaded', async () => {
    await expectUsageError(
      [...gen, '--tokens', '1000000000000', 'x'],
      /--tokens 1000000000000 is more tokens than one run should make \(at most 1000000\)/,
    );
    await expectUsageError([...gen, '-n', '1e12', 'x'], '--count must be a whole number of tokens written in digits');
    await expectUsageError(['chat', '--model', join(tmp, 'absent.pth'), '--tokens', '99999999999999999999'], /at most 1000000/);
  });
});

describe('model files', () => {
  it('an empty model file: says it is empty and names the formats read', async () => {
    const empty = join(tmp, 'empty.pth');
    writeFileSync(empty, new Uint8Array(0));
    for (const args of [
      ['info', '--model', empty],
      ['forward', '--model', empty, '--tokens', '1'],
    ]) {
      const r = await run(args);
      expect(r.code).toBe(1);
      expect(r.err).toContain('empty.pth: the file is empty');
      expect(r.err).toContain('.pth (zip), .safetensors, rwkv.cpp .bin or GGUF');
    }
  });

  it('a state-tuning file given as --model points at --initial-state', async () => {
    // what RWKV state tuning saves: only blocks.N.att.time_state, [H, N, N] per layer
    const state: Checkpoint = new Map();
    for (let i = 0; i < 2; i++) state.set(`blocks.${i}.att.time_state`, { shape: [1, 4, 4], data: new Float32Array(16), storedAs: 'F32' });
    const file = join(tmp, 'rwkv-x060-state.safetensors');
    writeFileSync(file, safetensorsBytes(state));
    for (const args of [
      ['info', '--model', file],
      ['forward', '--model', file, '--tokens', '1', '--backend', 'ts'],
    ]) {
      const r = await run(args);
      expect(r.code, args[0]).toBe(1);
      expect(r.err).toContain('state-tuning checkpoint');
      expect(r.err).toContain('--initial-state');
    }
  });

  it('rwkv info reads the headers only: an 8 GiB (sparse) embedding is never read', async () => {
    // The real tensors of a small v7, but emb.weight declared [2^25, 64] float32 = 8 GiB, past
    // what one buffer holds: reading or decoding it would fail. The file is sparse (no disk use).
    const ckpt = smallV7(300);
    const header: Record<string, unknown> = {};
    let offset = 0;
    const big = 2 ** 25;
    for (const [k, t] of ckpt) {
      const shape = k === 'emb.weight' ? [big, 64] : [...t.shape];
      const bytes = 4 * shape.reduce((a, b) => a * b, 1);
      header[k] = { dtype: 'F32', shape, data_offsets: [offset, offset + bytes] };
      offset += bytes;
    }
    const json = new TextEncoder().encode(JSON.stringify(header));
    const head = new Uint8Array(8 + json.length);
    new DataView(head.buffer).setBigUint64(0, BigInt(json.length), true);
    head.set(json, 8);
    const file = join(tmp, 'huge.safetensors');
    writeFileSync(file, head);
    truncateSync(file, head.length + offset);
    const r = await run(['info', '--model', file, '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ version: '7', n_layer: 1, n_embd: 64, vocab: big, dtypes: { F32: ckpt.size } });
    // the same file through a model load does read it (the test above would catch a regression)
    const load = await run(['forward', '--model', file, '--tokens', '1', '--backend', 'ts']);
    expect(load.code).toBe(1);
  });

  it('modelInfo describes a checkpoint whose tensors throw when read', () => {
    const ckpt = smallV7(300);
    const untouchable: Checkpoint = new Map();
    let reads = 0;
    const no = (): never => {
      reads++;
      throw new Error('tensor data read');
    };
    for (const [k, t] of ckpt) untouchable.set(k, lazyTensor(t.shape, 'BF16', no, no, no));
    const info = modelInfo(untouchable, 'm.safetensors', 'safetensors');
    expect(reads).toBe(0);
    expect(info).toMatchObject({ version: '7', n_layer: 1, n_embd: 64, n_head: 1, head_size: 64, vocab: 300, ffn: 128 });
    expect(info.dtypes).toEqual({ BF16: ckpt.size });
    expect(info.parameters).toBe([...ckpt.values()].reduce((n, t) => n + t.data.length, 0));
  });
});

describe('--vocab', () => {
  it('a directory: says so and names the file to give', async () => {
    const dir = join(tmp, 'vocab-dir');
    mkdirSync(dir, { recursive: true });
    const r = await run(['tokenize', '--vocab', dir, 'hello']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('is a directory; give the file itself');
    expect(r.err).toContain('rwkv_vocab_v20230424.txt');
  });

  it('an HTML page (a GitHub blob/ link saved from a browser): says so and gives the raw address', async () => {
    const page = join(tmp, 'rwkv_vocab_v20230424.txt');
    writeFileSync(page, '\n<!DOCTYPE html>\n<html lang="en"><head><title>ChatRWKV/tokenizer/rwkv_vocab_v20230424.txt</title>');
    const r = await run(['tokenize', '--vocab', page, 'hello']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('this is an HTML page, not the World vocabulary');
    expect(r.err).toContain('https://raw.githubusercontent.com/BlinkDL/ChatRWKV/main/tokenizer/rwkv_vocab_v20230424.txt');
  });
});

describe('rwkv convert … model.gguf', () => {
  /** A World-format vocabulary of ids 1..n-1 (bytes literals for 1..255, then short words). */
  function vocabText(n: number): string {
    const lines: string[] = [];
    for (let id = 1; id < n; id++) {
      if (id < 256) lines.push(`${id} b'\\x${id.toString(16).padStart(2, '0')}' 1`);
      else lines.push(`${id} 'w${id}' ${`w${id}`.length}`);
    }
    return `${lines.join('\n')}\n`;
  }

  it('finds the vocabulary next to the model as generate does, and otherwise names --vocab', async () => {
    vi.stubEnv('RWKV_VOCAB', '');
    const dir = join(tmp, 'gguf');
    mkdirSync(dir, { recursive: true });
    const model = join(dir, 'model.safetensors');
    writeFileSync(model, safetensorsBytes(smallV7(300)));
    const out = join(dir, 'model.gguf');
    await expectUsageError(
      ['convert', model, out],
      /needs --vocab FILE .*looked at .*rwkv_vocab_v20230424\.txt \(next to the model\); \$RWKV_VOCAB \(not set\)/,
    );
    // $RWKV_VOCAB is the second place, as for generate
    const elsewhere = join(tmp, 'vocab-elsewhere.txt');
    writeFileSync(elsewhere, vocabText(300));
    vi.stubEnv('RWKV_VOCAB', elsewhere);
    expect((await run(['convert', model, join(dir, 'via-env.gguf')])).code).toBe(0);
    vi.stubEnv('RWKV_VOCAB', '');
    copyFileSync(elsewhere, join(dir, 'rwkv_vocab_v20230424.txt'));
    const r = await run(['convert', model, out, '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    // the GGUF carries that vocabulary: its tokenizer encodes a word of it as one id
    const t = await run(['tokenize', '--model', out, 'w299']);
    expect(t.code).toBe(0);
    expect(JSON.parse(t.out)).toEqual([299]);
  });
});

describe('browser build', () => {
  it('the hint for a path names constructors the bundle exports', () => {
    let hint = '';
    try {
      browserFiles.readFile('model.pth');
    } catch (e) {
      hint = (e as { hint?: string }).hint ?? '';
    }
    expect(hint).toContain('WorldTokenizer.fromFileText(');
    const calls = [...hint.matchAll(/\b([A-Za-z]+)(?:\.([A-Za-z]+))?\(/g)];
    expect(calls.length).toBeGreaterThan(1);
    for (const [, name, method] of calls) {
      const value = (browser as Record<string, unknown>)[name!];
      expect(value, name).toBeDefined();
      if (method !== undefined) expect(typeof (value as Record<string, unknown>)[method], `${name}.${method}`).toBe('function');
    }
  });
});
