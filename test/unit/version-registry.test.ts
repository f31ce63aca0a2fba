// The version registry (src/model/registry.ts): every version name has one entry, the state
// entries keep their official names, and a model refuses at load a backend that lacks an
// optional op its version's block calls (OP_UNSUPPORTED), naming the op, backend and version.

import { describe, expect, it } from 'vitest';
import { type Backend, type OptionalOp, implementsOp } from '../../src/backends/backend.ts';
import { TsBackend } from '../../src/backends/ts/ts-backend.ts';
import { type RwkvVersion, VERSIONS, detectConfig } from '../../src/model/config.ts';
import { RwkvModel } from '../../src/model/model.ts';
import { REGISTRY, versionSpec } from '../../src/model/registry.ts';
import { stateLayout } from '../../src/model/state.ts';
import { openStrategy } from '../../src/strategy.ts';
import { errorOf } from '../helpers/errors.ts';
import { type RandomModelSpec, randomCheckpoint } from '../helpers/random-model.ts';
import { withoutOps } from '../helpers/without-ops.ts';

function spec(version: RwkvVersion): RandomModelSpec {
  return {
    version,
    nLayer: 2,
    nHead: version === '4' ? 1 : 2,
    headSize: version === '4' ? 8 : 4,
    nFfn: 10,
    nVocab: 9,
    ranks: { maa: 1, decay: 2, w: 2, a: 2, v: 2, g: 2, s: 2 },
    timeState: false,
    seed: 5,
  };
}

/** A ts backend named `name` that does not have the optional op `missing`. */
const lacking = (missing: OptionalOp, name: string): Backend => withoutOps(new TsBackend(), [missing], name);

describe('version registry', () => {
  it('has exactly one entry for every version name, and the entries are told apart by their keys', () => {
    expect([...VERSIONS].sort()).toEqual(['4', '5.0', '5.1', '5.2', '6', '7', '7-deepembed']);
    for (const v of VERSIONS) expect(REGISTRY.filter((s) => s.versions.includes(v))).toHaveLength(1);
    for (const v of VERSIONS) {
      const has = (k: string) => randomCheckpoint(spec(v)).has(k);
      // the first entry (newest first) that claims the checkpoint is its own; detectConfig agrees
      expect(REGISTRY.map((s) => s.detect(has)).filter((d) => d !== undefined)[0]).toBe(v);
      expect(versionSpec(v).detect(has)).toBe(v);
      expect(detectConfig(randomCheckpoint(spec(v))).version).toBe(v);
    }
  });

  it('state entries: official names (state files) and the names blocks read them by', () => {
    const names = (v: RwkvVersion) => stateLayout(detectConfig(randomCheckpoint(spec(v)))).map((e) => [e.name, e.key]);
    expect(names('4')).toEqual([
      ['att_x_prev', 'attXPrev'],
      ['att_aa', 'attAa'],
      ['att_bb', 'attBb'],
      ['att_pp', 'attPp'],
      ['ffn_x_prev', 'ffnXPrev'],
    ]);
    for (const v of ['5.0', '5.1', '5.2', '6', '7', '7-deepembed'] as const) {
      expect(names(v)).toEqual([
        ['att_x_prev', 'attXPrev'],
        ['att_kv', 'attKv'],
        ['ffn_x_prev', 'ffnXPrev'],
      ]);
    }
  });

  it('declares the optional ops each version needs', () => {
    expect(versionSpec('4').ops('4')).toEqual(['wkv4']);
    for (const v of ['5.0', '5.1', '5.2', '6'] as const) expect(versionSpec(v).ops(v)).toEqual(['wkv5']);
    expect(versionSpec('7').ops('7')).toEqual(['wkv7']);
    expect(versionSpec('7-deepembed').ops('7-deepembed')).toEqual(['wkv7', 'rowVecMat']);
  });
});

describe('OP_UNSUPPORTED: a backend without an op the version needs', () => {
  it('a v7 model refuses a backend without wkv7, naming the op, the backend and the version', () => {
    const b = lacking('wkv7', 'nowkv7');
    expect(implementsOp(b, 'wkv7')).toBe(false);
    const e = errorOf(() => RwkvModel.fromCheckpoint(randomCheckpoint(spec('7')), { backend: b }));
    expect(e.code).toBe('OP_UNSUPPORTED');
    expect(e.message).toMatch(/nowkv7/);
    expect(e.message).toMatch(/wkv7/);
    expect(e.message).toMatch(/RWKV-7/);
    expect(e.hint).toMatch(/ts/);
  });

  it('the same backend runs the versions that do not call wkv7', async () => {
    for (const v of ['4', '5.2', '6'] as const) {
      const ckpt = randomCheckpoint(spec(v));
      const lack = RwkvModel.fromCheckpoint(ckpt, { backend: lacking('wkv7', 'nowkv7') });
      const ts = RwkvModel.fromCheckpoint(ckpt, { backend: 'ts' });
      expect((await lack.forward([1, 2, 3])).logits).toEqual((await ts.forward([1, 2, 3])).logits);
    }
  });

  it('DeepEmbed also needs rowVecMat; plain v7 does not', () => {
    const b = lacking('rowVecMat', 'norowvecmat');
    expect(() => RwkvModel.fromCheckpoint(randomCheckpoint(spec('7')), { backend: b })).not.toThrow();
    const e = errorOf(() => RwkvModel.fromCheckpoint(randomCheckpoint(spec('7-deepembed')), { backend: b }));
    expect(e.code).toBe('OP_UNSUPPORTED');
    expect(e.message).toMatch(/rowVecMat.*RWKV-7-deepembed/);
  });

  it('every layer is checked: a split whose second segment lacks the op is refused', async () => {
    const opened = await openStrategy('ts fp32 *1 -> ts fp32', 2);
    const backends = [opened.backends[0]!, lacking('wkv5', 'nowkv5')];
    const e = errorOf(() => RwkvModel.fromCheckpoint(randomCheckpoint(spec('6')), { strategy: { ...opened, backends } }));
    expect(e.code).toBe('OP_UNSUPPORTED');
    expect(e.message).toMatch(/nowkv5 backend has no wkv5/);
    expect(e.expected).toMatch(/layer 1/);
  });
});
