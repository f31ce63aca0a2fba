// docs/errors.md documents every typed error code in one table, in the order of ERROR_CODES
// (src/errors.ts, from which RwkvErrorCode derives), each row with its meaning, causes and
// remedy; and every code is thrown somewhere in src/ (no code the docs promise and nothing uses).

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors.ts';
import { REPO_ROOT } from '../helpers/fixtures.ts';

const doc = readFileSync(join(REPO_ROOT, 'docs', 'errors.md'), 'utf8');

/** The cells of the table rows under a `## heading` of docs/errors.md (header and rule left out). */
function tableRows(heading: string): string[][] {
  const start = doc.indexOf(`\n## ${heading}\n`);
  expect(start, `docs/errors.md has no "## ${heading}" section`).toBeGreaterThanOrEqual(0);
  const next = doc.indexOf('\n## ', start + 1);
  const section = doc.slice(start, next < 0 ? undefined : next);
  const rows = section
    .split('\n')
    .filter((l) => l.startsWith('|'))
    // split on | not escaped as \|, then drop the empty ends
    .map((l) =>
      l
        .split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((c) => c.trim()),
    );
  return rows.slice(2);
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('docs/errors.md', () => {
  it('has one row per error code, in the order of ERROR_CODES, each with every column filled', () => {
    const rows = tableRows('Codes');
    expect(
      rows.map((r) => r[0]),
      'docs/errors.md "## Codes" and ERROR_CODES in src/errors.ts disagree',
    ).toEqual(ERROR_CODES.map((c) => `\`${c}\``));
    for (const r of rows) {
      expect(r, `${r[0]}: code, meaning, causes, what to do`).toHaveLength(4);
      for (const cell of r) expect(cell.length, `${r[0]}: an empty cell`).toBeGreaterThan(10);
    }
  });

  it('lists the CLI exit codes 0, 1 and 2', () => {
    expect(tableRows('CLI exit codes').map((r) => r[0])).toEqual(['0', '1', '2']);
  });

  it('documents no code that nothing throws: each code appears in src/ outside errors.ts', () => {
    const text = sourceFiles(join(REPO_ROOT, 'src'))
      .filter((f) => !f.endsWith(join('src', 'errors.ts')))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    expect(ERROR_CODES.filter((c) => !text.includes(`'${c}'`))).toEqual([]);
  });
});
