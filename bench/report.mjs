// Figures for bench/run.mjs: medians, ratios taken run by run, and plain-text tables.

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * The median over runs of a's metric over b's, where a and b are {server, op} and `results`
 * hold one record per server, op and run: a ratio measured side by side in each run, so that a
 * load spike during one run does not skew it as a ratio of medians would.
 */
export function ratio(results, runs, a, b, metric) {
  const rs = [];
  for (let run = 1; run <= runs; run++) {
    const x = results.find((r) => r.run === run && r.server === a.server && r.op === a.op);
    const y = results.find((r) => r.run === run && r.server === b.server && r.op === b.op);
    if (x && y && y[metric] > 0) rs.push(x[metric] / y[metric]);
  }
  return rs.length ? median(rs) : undefined;
}

export function table(rows, columns) {
  const cells = rows.map((r) => columns.map(([, f]) => f(r)));
  const widths = columns.map(([h], i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const fmt = (c) => c.map((x, i) => (i < 2 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join("  ");
  return [fmt(columns.map(([h]) => h)), ...cells.map(fmt)].join("\n");
}

const missing = (x) => x === undefined || x === null || Number.isNaN(x);
export const f0 = (x) => (missing(x) ? "-" : x.toFixed(0));
export const f1 = (x) => (missing(x) ? "-" : x.toFixed(1));
export const f2 = (x) => (missing(x) ? "-" : x.toFixed(2));
export const pct = (x) => (missing(x) ? "-" : `${(100 * x).toFixed(0)}%`);
export const times = (x) => (missing(x) ? "-" : `${x.toFixed(2)}x`);
