// The llama.cpp peer used by `npm run llama-cpp:check` and `npm run bench:peer`: node-llama-cpp,
// installed into a folder of the script's choosing (prebuilt CPU binaries from the npm registry),
// never a dependency of this package.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const NODE_LLAMA_CPP_VERSION = '3.21.1';

/** Install node-llama-cpp@NODE_LLAMA_CPP_VERSION into `dir` unless that version is already there. */
export function installNodeLlamaCpp(dir, log = console.log) {
  const pkg = join(dir, 'node_modules', 'node-llama-cpp', 'package.json');
  if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).version === NODE_LLAMA_CPP_VERSION) {
    log(`using node-llama-cpp ${NODE_LLAMA_CPP_VERSION} already in ${dir}`);
    return;
  }
  log(`installing node-llama-cpp@${NODE_LLAMA_CPP_VERSION} into ${dir} (npm registry) …`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(
    npm,
    ['install', '--prefix', dir, `node-llama-cpp@${NODE_LLAMA_CPP_VERSION}`, '--no-audit', '--no-fund', '--no-save'],
    {
      stdio: 'inherit',
    },
  );
  if (r.status !== 0) throw new Error(`npm install failed (exit ${r.status}); see the output above`);
}
