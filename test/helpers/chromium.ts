// Where Chromium is, and how to start it headless here, for the browser test and the browser
// benchmark: $RWKV_CHROMIUM, else Debian's /usr/bin/chromium (package `chromium`) or a usual path.

import { existsSync } from 'node:fs';

export const CHROMIUM_CANDIDATES: readonly string[] = [
  process.env['RWKV_CHROMIUM'],
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
].filter((p): p is string => p !== undefined && p !== '');

/** The first Chromium binary that exists, or undefined. */
export function findChromium(): string | undefined {
  return CHROMIUM_CANDIDATES.find((p) => existsSync(p));
}

/**
 * Flags for a headless Chromium on a machine without network: no sandbox (root), no GPU, and no
 * background connections (which this machine's closed network refuses, many at a time).
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];
