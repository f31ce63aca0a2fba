#!/usr/bin/env node
// Entry point of the `rwkv` executable (package.json "bin"); the CLI itself is ./cli/main.ts.
import { main } from './cli/main.ts';

// `rwkv … | head`: the reader went away; stop quietly, as Unix tools do, instead of crashing.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

process.exitCode = await main(process.argv.slice(2));
