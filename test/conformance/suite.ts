// The conformance suite shared by every backend, as vitest tests: the checks of ./core.ts (every
// op against an op oracle, every fixture model and a random model per version against the TS
// backend or the official numbers). Each test file calls `describeBackendConformance` once; a
// backend that is absent is skipped by the caller, with the reason (./cuda.test.ts). The optional
// ops a backend does not implement (Backend's OPTIONAL_OPS) are not tested, and the models that
// need them are skipped, both with a warning; ./registry.test.ts checks that a backend missing an
// op is seen as missing it.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.ts';
import { TsBackend } from '../../src/backends/ts/ts-backend.ts';
import { type ConformanceOptions, checkErrors, checkModel, checkOps, modelSources } from './core.ts';

export type { ConformanceOptions, Tolerance } from './core.ts';

export function describeBackendConformance(opts: ConformanceOptions): void {
  describe(`conformance: ${opts.name} backend`, () => {
    let subject: Backend;
    beforeAll(async () => {
      subject = await opts.create();
    });
    afterAll(async () => {
      if (subject !== undefined) await opts.dispose?.(subject);
    });

    describe('ops', () => {
      it(`every op on random inputs within atol ${opts.opTolerance.atol}, rtol ${opts.opTolerance.rtol}`, async () => {
        const r = await checkOps(subject, opts.opOracle?.() ?? new TsBackend(), opts.opTolerance);
        if (r.notImplemented.length > 0)
          console.warn(`\n!!!!!!!! [conformance:${opts.name}] not implemented, not tested: ${r.notImplemented.join(', ')}\n`);
        console.log(`[conformance:${opts.name}] ops: ${r.cases} cases, worst |Δ| ${r.worst.d.toExponential(2)} (${r.worst.name})`);
        expect(r.failures, r.failures.join('\n')).toEqual([]);
      });
      it('rejects a bad token id, shape mismatches and a freed tensor with typed errors', () => {
        const failures = checkErrors(subject);
        expect(failures, failures.join('\n')).toEqual([]);
      });
    });

    describe('models', () => {
      const m = opts.models;
      const sources = modelSources(m);
      if (sources.length === 0) it.skip('no fixture models (see the warning above)', () => {});
      for (const src of sources) {
        for (const w of m.weights) {
          it(`${src.label} weights ${w.weights}: logits within ${w.logits.atol}${w.exactGreedy ? ', same greedy tokens' : ''}`, async (ctx) => {
            const r = await checkModel(subject, src, w, m);
            if (r.skipped !== undefined) {
              console.warn(`\n!!!!!!!! [conformance:${opts.name}] SKIPPING ${src.label}: ${r.skipped}\n`);
              ctx.skip();
            }
            console.log(`[conformance:${opts.name}] ${src.label} weights ${w.weights}: ${r.notes.join('; ')}`);
            expect(r.failures, r.failures.join('\n')).toEqual([]);
          });
        }
      }
    });
  });
}
