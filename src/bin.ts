#!/usr/bin/env node
// Entry point of the `rwkv` executable (package.json "bin"); the CLI itself is ./cli.ts.
import { main } from './cli.ts';

process.exitCode = await main(process.argv.slice(2));
