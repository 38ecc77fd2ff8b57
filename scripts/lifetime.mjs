// How `npm start` and `npm run serve` end, and what they leave behind: nothing.
//
// package.json runs both scripts with `exec`, so that npm's own child is this Node.js process and the
// SIGINT and SIGTERM npm forwards to its child reach it. Through the `sh -c` (dash) npm runs scripts
// with, they did not: SIGTERM killed the shell alone, and npm with it; SIGINT was held by the shell
// until its child exited, which it never did. Either way workerd kept serving. SIGHUP and SIGKILL
// npm does not forward (it dies of them): this process then sees itself reparented, and stops.
// On SIGINT, SIGTERM or SIGHUP, or when the parent is gone, `stop(reason)` runs once and has
// GRACE_MS to end what the script started; then what is left of every process found below this one
// (in /proc, at the stop and at exit, so that workerd two levels down under wrangler is not missed)
// is SIGKILLed, and the process exits with 128 + the signal's number (SIGHUP's when the parent went).
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { constants } from "node:os";

const GRACE_MS = 5000;
const POLL_MS = 250;

/** A process's parent, session and start time from /proc/<pid>/stat; undefined when gone or a zombie. */
export function procStat(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // After "pid (comm) ": state ppid pgrp session ... starttime (field 22 of the whole line).
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  if (f[0] === "Z" || f[0] === "X") return undefined;
  return { ppid: Number(f[1]), pgrp: Number(f[2]), session: Number(f[3]), start: f[19] };
}

/** Every live process as pid → procStat (empty where there is no /proc). */
export function allProcesses() {
  const all = new Map();
  let names = [];
  try {
    names = readdirSync("/proc");
  } catch {
    return all;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const stat = procStat(Number(name));
    if (stat !== undefined) all.set(Number(name), stat);
  }
  return all;
}

/** The processes below `root` now, as pid → start time (which tells a reused pid from the same process). */
export function descendants(root = process.pid) {
  const all = allProcesses();
  const children = new Map();
  for (const [pid, { ppid }] of all) {
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(pid);
  }
  const found = new Map();
  const queue = [root];
  while (queue.length > 0) {
    for (const pid of children.get(queue.shift()) ?? []) {
      if (found.has(pid)) continue;
      found.set(pid, all.get(pid).start);
      queue.push(pid);
    }
  }
  return found;
}

/** Whether `pid` is still the process that had start time `start`. */
export const alive = (pid, start) => procStat(pid)?.start === start;

/** Sends `signal` to those of `procs` (pid → start time) still alive. */
export function signalAll(procs, signal) {
  for (const [pid, start] of procs) {
    if (!alive(pid, start)) continue;
    try {
      process.kill(pid, signal);
    } catch {
      // gone meanwhile
    }
  }
}

const below = new Map(); // every process seen below this one at the stop
let stopping = false;
let installed = false;

/**
 * Installs the signal handlers and the parent watch. `stop(reason)` (reason: "SIGINT", "SIGTERM",
 * "SIGHUP" or "parent gone") ends what the script runs and may return a promise; whatever is left
 * after it (or after GRACE_MS) is killed. The script may exit on its own meanwhile (a child's exit
 * handler): the exit handler still kills what is left below it.
 */
export function stopOnSignalOrOrphan(stop) {
  if (installed) throw new Error("stopOnSignalOrOrphan: already installed");
  installed = true;
  const parent = process.ppid;
  async function begin(reason, signal) {
    if (stopping) return;
    stopping = true;
    clearInterval(watch);
    for (const [pid, start] of descendants()) below.set(pid, start);
    let timer;
    try {
      await Promise.race([
        Promise.resolve().then(() => stop(reason)),
        new Promise((resolve) => {
          timer = setTimeout(resolve, GRACE_MS);
        }),
      ]);
    } catch (err) {
      console.error(`stopping: ${err?.message ?? err}`);
    } finally {
      clearTimeout(timer);
      process.exit(128 + constants.signals[signal]);
    }
  }
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => begin(signal, signal));
  // npm killed outright (or dead of SIGHUP, which it does not forward): this process is reparented.
  const watch = setInterval(() => {
    if (process.ppid !== parent) begin("parent gone", "SIGHUP");
  }, POLL_MS);
  watch.unref();
  process.on("exit", () => {
    for (const [pid, start] of descendants()) below.set(pid, start);
    signalAll(below, "SIGKILL");
  });
}

/** SIGTERM to every process seen below this one; resolves once they are all gone. */
export async function terminate() {
  for (const [pid, start] of descendants()) below.set(pid, start);
  signalAll(below, "SIGTERM");
  while ([...below].some(([pid, start]) => alive(pid, start))) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Runs a command to its end; output inherited, or captured when `capture`. Resolves to
 * { status, signal, output }. Once a stop has begun it starts nothing and never resolves: the
 * process is on its way out.
 */
export function run(cmd, args, { capture = false, ...options } = {}) {
  if (stopping) return new Promise(() => {});
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...options, stdio: capture ? ["ignore", "pipe", "pipe"] : "inherit" });
    let output = "";
    child.stdout?.on("data", (chunk) => {
      output += chunk;
    });
    child.stderr?.on("data", (chunk) => {
      output += chunk;
    });
    child.on("error", reject);
    child.on("close", (status, signal) => {
      if (!stopping) resolve({ status, signal, output });
    });
  });
}
