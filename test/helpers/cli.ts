// The `rwkv` command run in-process through the CLI's main: its exit code, what it printed to
// stdout and stderr (one call of out/err a line), and the raw streamed text (io.write).

import { Readable } from 'node:stream';
import { main } from '../../src/cli/main.ts';

export interface CliRun {
  code: number;
  out: string;
  err: string;
  /** Raw streamed text (generate and chat write pieces without newlines). */
  text: string;
}

/** Run `rwkv ARGS`, with `stdin` as standard input when given. */
export async function runCli(args: string[], stdin?: string | Buffer): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  let text = '';
  const io = {
    write: (s: string) => {
      text += s;
    },
    ...(stdin !== undefined ? { stdin: Readable.from([typeof stdin === 'string' ? Buffer.from(stdin) : stdin]) } : {}),
  };
  const code = await main(
    args,
    (s) => out.push(s),
    (s) => err.push(s),
    io,
  );
  return { code, out: out.join('\n'), err: err.join('\n'), text };
}
