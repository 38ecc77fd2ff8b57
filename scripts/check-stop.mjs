#!/usr/bin/env node
// `npm run test:stop [-- --quick] [--only TEXT] [--keep]`: proves that `npm start` and `npm run serve` stop when told.
// For each case it starts the command as a service manager would (npm in its own session, on a free
// loopback port, with throw-away state), waits until GET /versions answers, signals the npm process
// (or npm's whole process group, as Ctrl-C, test/e2e's stop_group and bench's stopGroup do), then
// asserts that within 10 s every process that was in the tree below npm is gone, no process is left
// in npm's session, and nothing accepts connections on the port any more. Leftovers are SIGKILLed.
// Cases, for both commands: SIGTERM and SIGINT to npm; unless --quick also SIGHUP and SIGKILL to npm
// (npm forwards neither: the script must notice its parent is gone), SIGINT to the group (Ctrl-C)
// and SIGTERM to the group (stop_group, stopGroup).
// Closes with `stop: N passed, M failed (T s)`; exit status 1 when any failed. Linux (reads /proc).
import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { get } from "node:http";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { alive, allProcesses, descendants, procStat, signalAll } from "./lifetime.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const DEADLINE_MS = 10_000;
const UP_MS = 180_000;
const { values: opt } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" }, // runs the cases whose name contains this
    keep: { type: "boolean", default: false },
  },
});
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const scratch = mkdtempSync(join(tmpdir(), "glance-edge-stop-"));

// Everything a case started, SIGKILLed on every way out of this script.
const started = new Map(); // pid → start time
const sessions = new Set();
function killLeftovers() {
  for (const [pid, s] of allProcesses()) if (sessions.has(s.session)) started.set(pid, s.start);
  signalAll(started, "SIGKILL");
}
process.on("exit", () => {
  killLeftovers();
  if (opt.keep) console.error(`stop: kept ${scratch}`);
  else rmSync(scratch, { recursive: true, force: true });
});
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => process.exit(130));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Whether something accepts a TCP connection on 127.0.0.1:port. */
function listening(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.setTimeout(1000);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve(true); // accepted by the kernel but not answered: still someone's port
    });
    socket.once("error", () => resolve(false));
  });
}

/** Whether GET http://127.0.0.1:port/versions answers 200 within 5 s (a fresh connection each time). */
function answers(port) {
  return new Promise((resolve) => {
    const req = get({ host: "127.0.0.1", port, path: "/versions", agent: false }, (res) => {
      res.resume();
      res.once("end", () => resolve(res.statusCode === 200));
      res.once("error", () => resolve(false));
    });
    const timer = setTimeout(() => req.destroy(new Error("timeout")), 5000);
    req.once("error", () => resolve(false));
    req.once("close", () => clearTimeout(timer));
  });
}

function comm(pid) {
  try {
    const name = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
    return name.startsWith("npm ") ? "npm" : name; // npm sets its title to the whole command
  } catch {
    return "?";
  }
}

const npmArgs = {
  start: (port) => ["start", "--", "--port", port, "--persist-to", join(scratch, "state-start")],
  // One bundle for all serve cases: the first builds it (--no-build builds when there is none).
  serve: (port) => [
    ...["run", "serve", "--", "--port", port, "--persist-to", join(scratch, "state-serve")],
    ...["--outdir", join(scratch, "dist"), "--no-build"],
  ],
};
const label = { start: "npm start", serve: "npm run serve" };

const caseName = (command, signal, target) =>
  `${label[command]}, ${signal} to ${target === "group" ? "npm's process group" : "npm"}`;

async function check(command, signal, target) {
  const name = caseName(command, signal, target);
  const port = await freePort();
  const logFile = join(scratch, `${command}-${signal}-${target}.log`);
  const out = openSync(logFile, "w");
  // detached: npm leads a new session and process group, as under a service manager.
  const npm = spawn("npm", npmArgs[command](String(port)), {
    cwd: root,
    detached: true,
    stdio: ["ignore", out, out],
  });
  closeSync(out);
  sessions.add(npm.pid);
  let exited = false;
  npm.on("exit", () => {
    exited = true;
  });
  npm.on("error", (err) => {
    console.error(`stop: ${err.message}`);
    exited = true;
  });
  const tail = () => readFileSync(logFile, "utf8").trimEnd().split("\n").slice(-15).join("\n");
  const failed = (why) => {
    killLeftovers();
    console.log(`FAIL ${name}: ${why}\n${tail().replace(/^/gm, "     | ")}`);
    return false;
  };

  const t0 = performance.now();
  while (!(await answers(port))) {
    if (exited) return failed("npm exited before the service answered");
    if (performance.now() - t0 > UP_MS) return failed(`no answer on /versions in ${UP_MS / 1000} s`);
    await sleep(200);
  }
  const up = (performance.now() - t0) / 1000;
  const tree = descendants(npm.pid);
  tree.set(npm.pid, procStat(npm.pid)?.start);
  for (const [pid, start] of tree) started.set(pid, start);
  const names = [...tree.keys()].map(comm);
  if (!names.includes("workerd")) return failed(`no workerd below npm (found: ${names.join(", ")})`);

  const t1 = performance.now();
  process.kill(target === "group" ? -npm.pid : npm.pid, signal);
  for (;;) {
    const left = [...tree].filter(([pid, start]) => alive(pid, start)).map(([pid]) => pid);
    for (const [pid, s] of allProcesses()) if (s.session === npm.pid && !left.includes(pid)) left.push(pid);
    const open = await listening(port);
    const took = (performance.now() - t1) / 1000;
    if (left.length === 0 && !open) {
      const counts = {};
      for (const n of names) counts[n] = (counts[n] ?? 0) + 1;
      const what = Object.entries(counts)
        .map(([n, c]) => (c > 1 ? `${n} ×${c}` : n))
        .join(", ");
      console.log(
        `ok   ${name}: ${tree.size} processes (${what}) and the port gone ${took.toFixed(1)} s after` +
          ` (up in ${up.toFixed(0)} s)`,
      );
      return true;
    }
    if (took * 1000 > DEADLINE_MS) {
      const alivePart = left.map((pid) => `${pid} ${comm(pid)}`).join(", ");
      return failed(
        `after ${DEADLINE_MS / 1000} s: ${left.length ? `still running: ${alivePart}` : "no process left"}` +
          `${open ? `; port ${port} still accepts connections` : ""} (up in ${up.toFixed(1)} s)`,
      );
    }
    await sleep(100);
  }
}

let cases = [];
for (const command of ["start", "serve"]) {
  for (const signal of ["SIGTERM", "SIGINT"]) cases.push([command, signal, "npm"]);
  if (!opt.quick) {
    for (const signal of ["SIGHUP", "SIGKILL"]) cases.push([command, signal, "npm"]);
    for (const signal of ["SIGINT", "SIGTERM"]) cases.push([command, signal, "group"]);
  }
}
if (opt.only !== undefined) cases = cases.filter((c) => caseName(...c).includes(opt.only));
if (cases.length === 0) {
  console.error(`stop: no case's name contains ${JSON.stringify(opt.only)}`);
  process.exit(2);
}
const t0 = performance.now();
let passed = 0;
for (const c of cases) if (await check(...c)) passed++;
const seconds = ((performance.now() - t0) / 1000).toFixed(0);
console.log(`stop: ${passed} passed, ${cases.length - passed} failed (${seconds} s)`);
process.exit(passed === cases.length ? 0 : 1);
