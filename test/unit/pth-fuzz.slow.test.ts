// The .pth fuzz properties of pth-fuzz.test.ts with 10^5 cases each (not part of `npm test`;
// run with `npx vitest run test/unit/pth-fuzz.slow.test.ts`, or `npm run test:full`).
process.env['FUZZ_RUNS'] ??= '100000';
await import('./pth-fuzz.test.ts');
