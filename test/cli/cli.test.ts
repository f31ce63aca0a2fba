// The `rwkv` CLI contract: info, forward in gpt / rnn / chunk modes (official numbers), --all,
// state files, --initial-state, float32 round-trip printing, one-line errors with exit codes.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli as run } from '../helpers/cli.ts';
import { float32ToString } from '../../src/util/format.ts';
import { fixturePath, readOracle } from '../helpers/fixtures.ts';
import { describeWithFixtures } from '../helpers/skip.ts';
import { LOGITS_ORACLE_ATOL, expectClose } from '../helpers/tolerance.ts';

const v7 = fixturePath('tiny-rwkv/tiny-rwkv-7v0-834K-FP32.bin');
const v7oracle = readOracle('oracle/tiny-rwkv-7v0-834K.json');
const v6 = fixturePath('synthetic/models/synthetic-rwkv6-L2-C128-H2-BF16.safetensors');
const v6state = fixturePath('synthetic/models/synthetic-rwkv6-L2-C128-H2-state-BF16.safetensors');
const v6stateOracle = readOracle('synthetic/oracle/synthetic-rwkv6-L2-C128-H2-state.json');
const tmp = mkdtempSync(join(tmpdir(), 'rwkv-cli-'));

describe('float32 printing', () => {
  it('prints the shortest decimal that parses back to the same float32', () => {
    for (const x of [0.1, 1 / 3, -2.5e-8, 3.4e38, 1.17549435e-38, 123456.789, -0]) {
      const f = Math.fround(x);
      const s = float32ToString(f);
      expect(Math.fround(Number(s))).toBe(f);
      expect(s.replace(/[-.]|e.*$/g, '').replace(/^0+/, '').length).toBeLessThanOrEqual(9);
    }
    expect(float32ToString(Math.fround(0.1))).toBe('0.1');
  });
});

describeWithFixtures(v7 !== undefined && v7oracle !== undefined, 'rwkv forward (tiny v7, official numbers)', () => {
  const sentence = v7oracle!.prompts.find((p) => p.name === 'sentence')!;
  const r = sentence.results['fp32']!;
  const tokens = sentence.tokens.join(',');

  it('gpt (default), rnn and --chunk 7 modes give the official last-token logits', async () => {
    for (const mode of [[], ['--mode', 'gpt'], ['--mode', 'rnn'], ['--chunk', '7']]) {
      const { code, out, err } = await run(['forward', '--model', v7!, '--tokens', tokens, ...mode, '--json']);
      expect(err).toBe('');
      expect(code).toBe(0);
      const { logits } = JSON.parse(out) as { logits: number[] };
      expectClose(`mode ${mode.join(' ') || 'default'}`, logits, r.seq_logits, LOGITS_ORACLE_ATOL);
    }
  });

  it('--all prints one row per input token (the official RNN logits), in every mode', async () => {
    for (const mode of [[], ['--mode', 'rnn'], ['--chunk', '5']]) {
      const { code, out } = await run(['forward', '--model', v7!, '--tokens', tokens, '--all', ...mode, '--json']);
      expect(code).toBe(0);
      const { logits } = JSON.parse(out) as { logits: number[][] };
      expect(logits.length).toBe(sentence.tokens.length);
      logits.forEach((row, i) => expectClose(`--all row ${i}`, row, r.rnn_logits![i]!, LOGITS_ORACLE_ATOL));
    }
  });

  it('--state-out then --state-in continues exactly where the first call stopped', async () => {
    const stateFile = join(tmp, 'v7.state');
    const head = sentence.tokens.slice(0, 20).join(',');
    const tail = sentence.tokens.slice(20).join(',');
    const first = await run(['forward', '--model', v7!, '--tokens', head, '--state-out', stateFile, '--json']);
    expect(first.code).toBe(0);
    const second = await run(['forward', '--model', v7!, '--tokens', tail, '--state-in', stateFile, '--json']);
    expect(second.code).toBe(0);
    expectClose('continued', (JSON.parse(second.out) as { logits: number[] }).logits, r.seq_logits, LOGITS_ORACLE_ATOL);
    // a damaged state file is refused
    const bytes = readFileSync(stateFile);
    bytes[bytes.length - 10]! ^= 0xff;
    const damaged = join(tmp, 'damaged.state');
    writeFileSync(damaged, bytes);
    const bad = await run(['forward', '--model', v7!, '--tokens', tail, '--state-in', damaged]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/checksum/);
  });

  it('rwkv info reports the configuration', async () => {
    const { code, out } = await run(['info', '--model', v7!, '--json']);
    expect(code).toBe(0);
    const info = JSON.parse(out);
    expect(info).toMatchObject({
      version: '7',
      n_layer: 12,
      n_embd: 64,
      n_head: 1,
      head_size: 64,
      vocab: 256,
      ffn: 256,
      format: 'rwkv.cpp',
    });
    expect(info.parameters).toBeGreaterThan(800_000);
  });

  it('rwkv generate continues greedily like the official greedy tokens', async () => {
    const { code, out } = await run(['generate', '--model', v7!, '--prompt-tokens', tokens, '--temperature', '0', '-n', '32', '--json']);
    expect(code).toBe(0);
    expect(JSON.parse(out).tokens).toEqual(r.greedy_tokens);
  });
});

describe.skipIf(v6 === undefined || v6state === undefined || v6stateOracle === undefined)('--initial-state (v6 state tuning)', () => {
  it('uses the tuned state as the fresh state', async () => {
    const p = v6stateOracle!.prompts[0]!;
    const { code, out } = await run(['forward', '--model', v6!, '--initial-state', v6state!, '--tokens', p.tokens.join(','), '--json']);
    expect(code).toBe(0);
    expectClose('initial-state', (JSON.parse(out) as { logits: number[] }).logits, p.results['bf16']!.seq_logits, LOGITS_ORACLE_ATOL);
  });

  it('a state saved from one model is refused by another', async (ctx) => {
    const stateFile = join(tmp, 'v6.state');
    expect((await run(['forward', '--model', v6!, '--tokens', '1,2', '--state-out', stateFile])).code).toBe(0);
    if (v7 === undefined) return ctx.skip();
    const other = await run(['forward', '--model', v7, '--tokens', '1', '--state-in', stateFile]);
    expect(other.code).toBe(1);
    expect(other.err).toMatch(/different model/);
  });
});

describe('errors: one line, non-zero exit', () => {
  const model = v7 ?? 'missing.bin';
  const cases: [string, string[], number, RegExp][] = [
    ['no command', [], 2, /usage/],
    ['unknown command', ['frobnicate'], 2, /unknown command/],
    ['unknown option', ['forward', '--model', model, '--tokens', '1', '--bogus'], 2, /bogus/],
    ['missing --model', ['forward', '--tokens', '1'], 2, /--model/],
    ['missing --tokens', ['forward', '--model', model], 2, /--tokens/],
    ['bad token list', ['forward', '--model', model, '--tokens', '1,,2'], 2, /--tokens/],
    ['bad mode', ['forward', '--model', model, '--tokens', '1', '--mode', 'fast'], 2, /--mode/],
    ['bad chunk', ['forward', '--model', model, '--tokens', '1', '--chunk', '0'], 2, /--chunk/],
    ['rnn with chunk', ['forward', '--model', model, '--tokens', '1', '--mode', 'rnn', '--chunk', '2'], 2, /cannot be combined/],
    ['bad backend', ['forward', '--model', model, '--tokens', '1', '--backend', 'tpu'], 2, /--backend/],
    ['missing model file', ['forward', '--model', join(tmp, 'nope.bin'), '--tokens', '1'], 1, /nope\.bin.*ENOENT/],
    ['not a model file', ['info', '--model', fileURLToPath(import.meta.url)], 1, /not a model file/],
  ];
  for (const [name, args, code, pattern] of cases) {
    it(name, async () => {
      const r = await run(args);
      expect(r.code).toBe(code);
      const text = code === 2 && args.length === 0 ? r.out : r.err;
      expect(text).toMatch(pattern);
      if (code !== 0 && args.length > 0) expect(r.err.split('\n').length).toBe(1);
    });
  }
  it.skipIf(v7 === undefined)('token id outside the vocabulary', async () => {
    const r = await run(['forward', '--model', v7!, '--tokens', '1,256']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/position 1.*256/);
  });
});
