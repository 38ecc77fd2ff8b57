#!/usr/bin/env node
// node bench/profile.mjs --inspector PORT [--targets a,b] [--interval US] [--out DIR]
//                         [--bundle DIST/index.js] -- CMD ARGS...
//
// CPU profiles of a running `npm run serve -- --inspect PORT` while CMD runs (e.g. wrk or curl):
// one V8 sampling profile per workerd Worker named in --targets (default: the app, the bench's
// floor, the local D1 and the local R2), written as DIR/<target>.cpuprofile (Chrome DevTools
// opens them) and summed up on stdout: each target's busy time, its self time by module (with
// --bundle, the bundle's lines are mapped to the src/ file or package esbuild marked them with),
// then the functions with the most self time. A Worker's profile only sees its own isolate; what workerd does in C++ for it (I/O,
// streams between Workers, hashing) shows as the caller's native frames or not at all, so the
// busy times do not add up to the process's CPU. Needs Node.js 22 (global WebSocket): run it with
// node_modules/.bin/node.
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values: opt, positionals } = parseArgs({
  options: {
    inspector: { type: "string" },
    targets: {
      type: "string",
      default: "core:user:glance-edge,core:user:glance-edge-floor,d1:db:entry,r2:bucket:entry,r2:bucket",
    },
    interval: { type: "string", default: "100" },
    out: { type: "string", default: "bench/results/profiles" },
    top: { type: "string", default: "25" },
    bundle: { type: "string" },
  },
  allowPositionals: true,
});
if (!opt.inspector || positionals.length === 0) {
  console.error("usage: node bench/profile.mjs --inspector PORT [--targets a,b] -- CMD ARGS...");
  process.exit(2);
}

/** One Chrome DevTools protocol session over the inspector's WebSocket. */
async function session(target) {
  const ws = new WebSocket(`ws://127.0.0.1:${opt.inspector}/${target}`);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error(`cannot attach to ${target}`));
  });
  let id = 0;
  const pending = new Map();
  ws.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.reject(new Error(`${target}: ${msg.error.message}`));
    else p.resolve(msg.result);
  };
  return {
    target,
    send(method, params = {}) {
      id++;
      ws.send(JSON.stringify({ id, method, params }));
      return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
    },
    close: () => ws.close(),
  };
}

/** [first line (1-based), module] of each part of an esbuild bundle, from its `// path` markers. */
function bundleParts(file) {
  const parts = [[1, "(bundle prelude)"]];
  readFileSync(file, "utf8")
    .split("\n")
    .forEach((line, i) => {
      const m = /^\/\/ (?:\.\.\/)*(\S*(?:node_modules\/((?:@[^/]+\/)?[^/]+)|src\/\S+))/.exec(line);
      if (m) parts.push([i + 1, m[2] ? `${m[2]} (package)` : m[1].slice(m[1].indexOf("src/"))]);
    });
  return parts;
}
const parts = opt.bundle ? bundleParts(opt.bundle) : null;

/** What a frame belongs to: a module of the bundle, another script, or the runtime's built-ins. */
function moduleOf(frame) {
  if (!frame.url) return frame.functionName.startsWith("(") ? frame.functionName : "(runtime built-ins)";
  const file = frame.url.split("/").pop();
  if (parts && file === opt.bundle.split("/").pop()) {
    let lo = 0;
    let hi = parts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (parts[mid][0] <= frame.lineNumber + 1) lo = mid;
      else hi = mid - 1;
    }
    return parts[lo][1];
  }
  return file;
}

function summarize(target, profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const total = profile.samples.length;
  const dt = (profile.endTime - profile.startTime) / 1000 / Math.max(1, total); // ms per sample
  for (const id of profile.samples) {
    const n = byId.get(id);
    const f = n.callFrame;
    const where = f.url ? `${f.url.split("/").pop()}:${f.lineNumber + 1}` : "";
    const key = `${f.functionName || "(anonymous)"} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + 1);
  }
  const idle = self.get("(idle)") ?? 0;
  const busy = total - idle;
  const modules = new Map();
  for (const id of profile.samples) {
    const m = moduleOf(byId.get(id).callFrame);
    if (m !== "(idle)") modules.set(m, (modules.get(m) ?? 0) + 1);
  }
  const byModule = [...modules.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, Number(opt.top))
    .map(([k, n]) => `    ${((100 * n) / Math.max(1, busy)).toFixed(1).padStart(5)}%  ${k}`);
  const lines = [...self.entries()]
    .filter(([k]) => k !== "(idle)")
    .sort((a, b) => b[1] - a[1])
    .slice(0, Number(opt.top))
    .map(([k, n]) => `    ${((100 * n) / Math.max(1, busy)).toFixed(1).padStart(5)}%  ${k}`);
  return `${target}: busy ${(busy * dt).toFixed(0)} ms of ${(total * dt).toFixed(0)} ms sampled\n  by module:\n${byModule.join("\n")}\n  by function:\n${lines.join("\n")}`;
}

const sessions = [];
for (const t of opt.targets.split(",")) {
  try {
    sessions.push(await session(t));
  } catch (err) {
    console.error(`profile: ${err.message}; skipped`);
  }
}
for (const s of sessions) {
  await s.send("Profiler.enable");
  await s.send("Profiler.setSamplingInterval", { interval: Number(opt.interval) });
  await s.send("Profiler.start");
}
const [cmd, ...args] = positionals;
const code = await new Promise((resolve) => {
  const child = spawn(cmd, args, { stdio: "inherit" });
  child.on("close", resolve);
});
mkdirSync(opt.out, { recursive: true });
for (const s of sessions) {
  const { profile } = await s.send("Profiler.stop");
  writeFileSync(join(opt.out, `${s.target.replace(/[^\w.-]/g, "_")}.cpuprofile`), JSON.stringify(profile));
  console.log(summarize(s.target, profile));
  s.close();
}
process.exit(code ?? 1);
