// Converting and loading back gives the same logits; tensors whose dtype does not change are
// copied bit-exactly through chains of formats.

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { convertModel } from '../../src/convert/convert.ts';
import { RwkvModel } from '../../src/index.ts';
import { loadCheckpoint } from '../../src/io/load.ts';
import { WRITERS } from '../../src/convert/writers.ts';
import { detectConfig } from '../../src/model/config.ts';
import { fixturePath, oracleCases } from '../helpers/fixtures.ts';
import { LOGITS_ORACLE_ATOL, expectClose } from '../helpers/tolerance.ts';

const EXT: Record<string, string> = { safetensors: 'safetensors', 'rwkv.cpp': 'bin', pth: 'pth', gguf: 'gguf' };
const tmp = mkdtempSync(join(tmpdir(), 'rwkv-roundtrip-'));

/** One source file per oracle model: the fp32 .bin for tiny models, the .safetensors for synthetic. */
const sources = oracleCases().flatMap((c) => {
  const set = c.sets.find((s) => s.set === 'fp32') ?? c.sets.find((s) => s.set === 'bf16')!;
  const file = set.files.find((f) => f.endsWith('.bin')) ?? set.files.find((f) => f.endsWith('.safetensors'));
  return file === undefined ? [] : [{ c, set: set.set, file, extra: set.timeStateFiles.filter((f) => f.endsWith('.safetensors')) }];
});

describe('convert → load back: official logits', () => {
  it('covers every writable format', () => {
    expect(Object.keys(WRITERS).sort()).toEqual(['gguf', 'pth', 'rwkv.cpp', 'safetensors']);
  });
  for (const { c, set, file, extra } of sources) {
    for (const format of Object.keys(WRITERS)) {
      it(`${c.model} → ${format}`, async () => {
        const src = fixturePath(file);
        const extras = extra.map((e) => fixturePath(e));
        if (src === undefined || extras.includes(undefined)) return;
        const writer = WRITERS[format]!;
        const { checkpoint } = await loadCheckpoint(src);
        const merged = new Map(checkpoint);
        for (const e of extras) for (const [k, t] of (await loadCheckpoint(e!)).checkpoint) merged.set(k, t);
        const why = writer.cannot(merged);
        if (why !== undefined) {
          // only GGUF may refuse, and only what llama.cpp lacks: RWKV-4/5, DeepEmbed, v6 state tuning
          expect(format).toBe('gguf');
          const cfg = detectConfig(merged);
          expect(['4', '5.0', '5.1', '5.2', '7-deepembed'].includes(cfg.version) || cfg.hasTimeState, `${cfg.version}: ${why}`).toBe(true);
          await expect(convertModel(src, join(tmp, `x.${EXT[format]}`), { extraFiles: extras as string[] })).rejects.toThrow(/cannot hold/);
          return;
        }
        const out = join(tmp, `${c.model}.${EXT[format]}`);
        await convertModel(src, out, { extraFiles: extras as string[] });
        const model = await RwkvModel.load(out);
        for (const p of c.oracle.prompts) {
          const logits = (await model.forward(p.tokens)).logits as Float32Array;
          expectClose(`${c.model} via ${format}: ${p.name}`, logits, p.results[set]!.seq_logits, LOGITS_ORACLE_ATOL);
        }
      });
    }
  }
});

describe('bit-exact chains', () => {
  const chain = ['pth', 'safetensors', 'gguf', 'safetensors'].filter((f) => WRITERS[f] !== undefined);
  // GGUF stores vectors, LoRAs and the fused v7 mixes as F32 whatever they were (as llama.cpp's
  // converter does): their values stay exact but their dtype changes; matrices keep theirs.
  it(`.pth → ${chain.join(' → ')} keeps every value bit-exact, and the bytes where the dtype is kept`, async (ctx) => {
    const src = fixturePath('tiny-rwkv/tiny-rwkv-7v0-834K-BF16.pth');
    if (src === undefined) return ctx.skip();
    expect(chain.length).toBeGreaterThanOrEqual(2);
    const original = (await loadCheckpoint(src)).checkpoint;
    let prev = src;
    for (const [i, f] of chain.entries()) {
      const out = join(tmp, `chain-${i}.${EXT[f]}`);
      await convertModel(prev, out);
      prev = out;
    }
    const final = (await loadCheckpoint(prev)).checkpoint;
    expect([...final.keys()].sort()).toEqual([...original.keys()].sort());
    let sameDtype = 0;
    for (const [k, t] of original) {
      const u = final.get(k)!;
      expect(u.shape, k).toEqual(t.shape);
      expect(
        Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength).equals(
          Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
        ),
        `${k} values`,
      ).toBe(true);
      if (u.storedAs === t.storedAs) {
        sameDtype++;
        expect(Buffer.from(u.raw!()).equals(Buffer.from(t.raw!())), `${k} bytes`).toBe(true);
      } else {
        expect(u.storedAs, k).toBe('F32');
        expect(t.shape.length === 2 && t.shape[0]! > 1 && !/\.(w|a|v|g)[12]$/.test(k), `${k}: a matrix changed dtype`).toBe(false);
      }
    }
    // every Linear weight matrix (and emb, head) kept its dtype and bytes
    const linear = [...original].filter(([k, t]) => k.endsWith('.weight') && t.shape.length === 2).length;
    expect(linear).toBeGreaterThan(50);
    expect(sameDtype).toBeGreaterThanOrEqual(linear);
    expect(readFileSync(prev).length).toBeGreaterThan(0);
  });
});
