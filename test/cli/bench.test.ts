// `rwkv bench` (src/cli/bench.ts, engine src/bench/bench.ts) on tiny shapes: the JSON report, the bytes a decode step reads
// (counted here from the RWKV-7 tensor list, independently of the loader), the random
// checkpoint's shapes, and argument errors.

import { describe, expect, it } from 'vitest';
import { type BenchResult, SHAPES, parseShape, randomRwkv7Checkpoint } from '../../src/bench/bench.ts';
import { runCli } from '../helpers/cli.ts';
import { detectConfig } from '../../src/model/config.ts';

/** `rwkv bench ARGS` through the CLI's main. */
const bench = (args: string[]) => runCli(['bench', ...args]);

/**
 * Values of the runtime weights a decode step reads, split into matrices and vectors, for an
 * RWKV-7 model (model.py RWKV_x070 L223-608): per layer ln1, ln2, x_r…x_g, w0, a0, (v0 for layers > 0), the LoRAs
 * (v1/v2 for layers > 0), k_k, k_a, r_k, ln_x, 4 C×C, ffn.x_k, ffn key/value; then ln_out and head.
 * The embedding table contributes one row (float32).
 */
function readPerToken(L: number, C: number, V: number, r: { w: number; a: number; v: number; g: number }) {
  const F = 4 * C;
  let matrices = C * V; // head
  let vectors = 2 * C + C; // ln_out, one embedding row
  for (let i = 0; i < L; i++) {
    vectors += 4 * C + 6 * C + 2 * C + (i > 0 ? C : 0) + 3 * C + 2 * C + C;
    matrices += 2 * C * (r.w + r.a + r.g + (i > 0 ? r.v : 0)) + 4 * C * C + 2 * F * C;
  }
  return { matrices, vectors };
}

describe('rwkv bench', () => {
  it('--json: one object with decode and prefill medians, bytes per token and peak RSS', async () => {
    const { code, out } = await bench([
      '--shape',
      '2,64,97',
      '--strategy',
      'ts fp32',
      '--prefill',
      '6',
      '--decode',
      '3',
      '--runs',
      '3',
      '--json',
    ]);
    expect(code).toBe(0);
    const r = JSON.parse(out) as BenchResult;
    expect(r.shape).toMatchObject({ nLayer: 2, nEmbd: 64, nVocab: 97, headSize: 64, nFfn: 256 });
    expect(r.strategy).toBe('ts fp32');
    expect(r.decode.runs).toHaveLength(3);
    expect(r.prefill!.runs).toHaveLength(3);
    for (const x of [...r.decode.runs, ...r.prefill!.runs]) expect(x).toBeGreaterThan(0);
    const sorted = [...r.decode.runs].sort((a, b) => a - b);
    expect(r.decode.tokPerSec).toBe(sorted[1]);
    const { matrices, vectors } = readPerToken(2, 64, 97, r.shape.ranks);
    expect(r.weightBytesPerToken).toBe(4 * (matrices + vectors));
    // the whole model: everything read per token plus the rest of the embedding table
    expect(r.weightBytes['f32']).toBe(4 * (matrices + vectors + 64 * 96));
    if (r.peakRssBytes !== null) expect(r.peakRssBytes).toBeGreaterThan(r.weightBytes['f32']!);
  });

  it('a bf16 strategy halves the matrices a decode step reads', async () => {
    const { code, out } = await bench([
      '--shape',
      '1,128,50',
      '--strategy',
      'ts bf16',
      '--prefill',
      '0',
      '--decode',
      '2',
      '--runs',
      '1',
      '--json',
    ]);
    expect(code).toBe(0);
    const r = JSON.parse(out) as BenchResult;
    expect(r.prefill).toBeNull();
    const { matrices, vectors } = readPerToken(1, 128, 50, r.shape.ranks);
    expect(r.weightBytesPerToken).toBe(2 * matrices + 4 * vectors);
  });

  it('text output names the placement, both speeds and the memory', async () => {
    const { code, out } = await bench([
      '--shape',
      '2,64,40',
      '--strategy',
      'ts fp32 *1 -> ts bf16',
      '--prefill',
      '4',
      '--decode',
      '2',
      '--runs',
      '1',
    ]);
    expect(code).toBe(0);
    expect(out).toContain('ts fp32 *1: layers 0 on ts');
    expect(out).toContain('ts bf16: layers 1-2 (incl. head) on ts');
    expect(out).toMatch(/decode: +[\d.]+ tok\/s/);
    expect(out).toMatch(/prefill: [\d.]+ tok\/s/);
    expect(out).toMatch(/peak RSS: /);
  });

  it('bad arguments exit 2 with one line on stderr, like every command; a strategy error shows the grammar', async () => {
    const cases: [string[], string][] = [
      [[], '--shape is required'],
      [['--shape', '7B'], '--shape: not a bench shape'],
      [['--shape', '2,100,10'], 'multiple of 64'],
      [['--shape', '2,64,10', '--decode', '0'], '--decode must be an integer ≥ 1'],
      [['--shape', '2,64,10', '--bogus'], "'--bogus'"],
      [['--shape', '2,64,10', '--temperature', '1'], 'bench takes no --temperature'],
    ];
    for (const [args, message] of cases) {
      const r = await bench(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.out).toBe('');
      expect(r.err).toContain(message);
      expect(r.err.split('\n')).toHaveLength(1);
    }
    const s = await bench(['--shape', '2,64,10', '--strategy', 'wasm fp64']);
    expect(s.code).toBe(2);
    expect(s.err).toContain('unknown dtype "fp64"');
    expect(s.err).toContain('SEGMENT := DEVICE DTYPE[i8] [*N[+]]');
  });

  it('rwkv bench --help prints its usage on stdout', async () => {
    const r = await bench(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^usage: rwkv bench --shape/);
    for (const o of ['--shape', '--strategy', '--prefill', '--decode', '--runs', '--threads', '--seed', '--json'])
      expect(r.out).toContain(o);
  });
});

describe('random RWKV-7 checkpoints of the released shapes', () => {
  it('0.1B has the shapes of RWKV-x070 0.1B (12 layers, C 768, vocab 65536, LoRA 64/64/32/128)', () => {
    const cfg = detectConfig(randomRwkv7Checkpoint(SHAPES['0.1B']!));
    expect(cfg).toMatchObject({ version: '7', nLayer: 12, nEmbd: 768, nVocab: 65536, nHead: 12, headSize: 64, nFfn: 3072 });
    expect(cfg.lora).toMatchObject({ w: 64, a: 64, v: 32, g: 128 });
    expect(detectConfig(randomRwkv7Checkpoint(SHAPES['1.5B']!))).toMatchObject({
      nLayer: 24,
      nEmbd: 2048,
      nHead: 32,
      lora: { w: 96, a: 96, v: 64, g: 256 },
    });
    expect(detectConfig(randomRwkv7Checkpoint(SHAPES['0.4B']!))).toMatchObject({
      nLayer: 24,
      nEmbd: 1024,
      lora: { w: 64, a: 64, v: 32, g: 128 },
    });
  });

  it('L,C,V shapes take the suggested LoRA ranks; tensors are seeded and reproducible', () => {
    expect(parseShape('3,768,100').ranks).toEqual({ w: 64, a: 64, v: 32, g: 128 }); // = 0.1B's
    expect(parseShape('1,2048,10').ranks).toEqual({ w: 96, a: 96, v: 64, g: 256 }); // = 1.5B's
    expect(parseShape('1,32,10').headSize).toBe(32);
    const a = randomRwkv7Checkpoint(parseShape('1,64,10'), 5).get('blocks.0.att.key.weight')!;
    const b = randomRwkv7Checkpoint(parseShape('1,64,10'), 5).get('blocks.0.att.key.weight')!;
    const c = randomRwkv7Checkpoint(parseShape('1,64,10'), 6).get('blocks.0.att.key.weight')!;
    expect(a.data).toEqual(b.data);
    expect(a.data).not.toEqual(c.data);
    // Linear [out, in]: uniform with std 1/√in
    const d = a.data;
    const std = Math.sqrt(d.reduce((s, x) => s + x * x, 0) / d.length);
    expect(Math.abs(std - 1 / 8)).toBeLessThan(0.01);
  });
});
