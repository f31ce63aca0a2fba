// A small progress bar for the CLI: draws on stderr only when it is a terminal, at most every
// 100 ms, and clears its line when done. The library itself only reports progress through
// callbacks; drawing is the CLI's business.

export interface ProgressBar {
  update(done: number, total: number, detail?: string): void;
  done(): void;
}

const WIDTH = 30;

export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  if (!stream.isTTY) return { update() {}, done() {} };
  let last = 0;
  let drawn = false;
  return {
    update(done, total, detail = '') {
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      const frac = total > 0 ? Math.min(1, done / total) : 0;
      const fill = Math.round(frac * WIDTH);
      stream.write(`\r${label} [${'#'.repeat(fill)}${'.'.repeat(WIDTH - fill)}] ${(frac * 100).toFixed(0).padStart(3)}% ${detail}\x1b[K`);
      drawn = true;
    },
    done() {
      if (drawn) stream.write('\r\x1b[K');
    },
  };
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}
