// --strategy / --threads for the CLI (src/cli/strategy-option.ts).
import { parseArgs } from 'node:util';
import { describe, expect, it } from 'vitest';
import { STRATEGY_HELP, STRATEGY_OPTIONS, StrategyOptionError, strategyLoadOptions } from '../../src/cli/strategy-option.ts';
import { BACKENDS } from '../../src/backends/registry.ts';

describe('strategyLoadOptions', () => {
  it('plugs into parseArgs and yields normalised load options', () => {
    const { values } = parseArgs({ args: ['--strategy', 'wasm  bf16 *8->ts fp32', '--threads', '2'], options: STRATEGY_OPTIONS });
    expect(strategyLoadOptions(values)).toEqual({ strategy: 'wasm bf16 *8 -> ts fp32', threads: 2 });
    expect(strategyLoadOptions({})).toEqual({});
    expect(strategyLoadOptions({ backend: 'ts', weights: 'f32' })).toEqual({});
    expect(STRATEGY_HELP).toContain('--strategy S');
  });

  it('bad values are usage errors; the strategy error shows the grammar', () => {
    expect(() => strategyLoadOptions({ strategy: 'wasm fp64' })).toThrow(StrategyOptionError);
    expect(() => strategyLoadOptions({ strategy: 'wasm fp64' })).toThrow(/unknown dtype "fp64"[\s\S]*SEGMENT := DEVICE/);
    expect(() => strategyLoadOptions({ threads: '0' })).toThrow(/--threads must be a positive integer/);
    expect(() => strategyLoadOptions({ strategy: 'ts fp32', backend: 'ts' })).toThrow(/--strategy replaces --backend/);
    expect(() => strategyLoadOptions({ strategy: 'ts fp32', weights: 'compact' })).toThrow(/replaces --weights/);
  });
});

describe('STRATEGY_HELP', () => {
  it('names every registered backend as a device, and cpu', () => {
    expect(STRATEGY_HELP).toContain('DEVICE ts | wasm | cuda[:K] | cpu,');
    for (const e of BACKENDS) expect(STRATEGY_HELP).toMatch(new RegExp(`DEVICE .*\\b${e.name}\\b`));
  });
});
