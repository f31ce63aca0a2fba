// fast-check runs with a fixed seed (FC_SEED, default 42) so CI is reproducible; the seed is
// printed by fast-check on failure. Set FC_SEED=random to explore, FC_RUNS to run more cases.
import fc from 'fast-check';

const seedEnv = process.env['FC_SEED'];
const seed = seedEnv === 'random' ? Date.now() ^ (Math.random() * 0x7fffffff) : Number(seedEnv ?? 42);
const runs = Number(process.env['FC_RUNS'] ?? 0);
fc.configureGlobal({ seed, ...(runs > 0 ? { numRuns: runs } : {}) });
