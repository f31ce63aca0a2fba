// Printing float32 values so that they parse back to the same float32 (shortest such decimal).

/** Shortest decimal string s with Math.fround(Number(s)) === x, for a float32 value x. */
export function float32ToString(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  for (let p = 1; p <= 9; p++) {
    const s = x.toPrecision(p);
    if (Math.fround(Number(s)) === x) return String(Number(s));
  }
  return String(x);
}

/** JSON for a float32 array: round-trip exact numbers; NaN/±Infinity (not JSON) become null. */
export function float32ArrayJson(a: ArrayLike<number>): string {
  const parts = new Array<string>(a.length);
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    parts[i] = Number.isFinite(v) ? float32ToString(v) : 'null';
  }
  return `[${parts.join(',')}]`;
}
