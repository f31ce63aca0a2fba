// Skipping suites whose fixtures are absent (a fresh clone without ../shared), loudly and without
// running code that reads them. vitest collects the body of `describe.skipIf(true)` too (to list
// its tests as skipped), so a body that reads a missing fixture throws at collection; and a
// `describe` whose tests all come from absent fixtures is empty, which vitest counts as a failure.

import { describe, it } from 'vitest';
import { FIXTURES_DIR, warnSkipping } from './fixtures.ts';

/**
 * `describe(name, body)` when `present`; otherwise a skipped suite holding one skipped test, and
 * `body` never runs (it may read the fixtures). The missing fixture was already named loudly by
 * fixturePath / readOracle.
 */
export function describeWithFixtures(present: boolean, name: string, body: () => void): void {
  if (present) describe(name, body);
  else describe.skip(name, () => it.skip(`needs fixtures missing from ${FIXTURES_DIR}`, () => {}));
}

/**
 * Call inside a `describe` whose tests are made from fixture cases: with no case at all, registers
 * one skipped test (and a loud warning) so the suite is skipped instead of empty.
 */
export function skipIfNoCases(count: number, what: string): void {
  if (count > 0) return;
  warnSkipping(`no ${what} found under ${FIXTURES_DIR}`);
  it.skip(`no ${what} found under ${FIXTURES_DIR}`, () => {});
}
