// Child processes of the bench scripts: each in its own process group, so a whole tree (npm →
// node → workerd) stops together, and every group is killed on every way out of the script.
import { spawn } from "node:child_process";
import { openSync, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const groups = new Set();

function signalAll(signal) {
  for (const pid of groups) {
    try {
      process.kill(-pid, signal);
    } catch {
      groups.delete(pid); // already gone
    }
  }
}
process.on("exit", () => signalAll("SIGKILL"));

/** Starts a command in its own process group, output appended to `logFile`. */
export function startGroup(cmd, args, logFile, cwd) {
  const out = openSync(logFile, "a");
  const child = spawn(cmd, args, { cwd, detached: true, stdio: ["ignore", out, out] });
  groups.add(child.pid);
  child.on("exit", () => {
    child.exited = true;
  });
  return child;
}

/** SIGTERM to the child's group, up to 10 s to go, then SIGKILL. */
export async function stopGroup(child) {
  const pid = child.pid;
  try {
    process.kill(-pid, "SIGTERM");
  } catch {
    groups.delete(pid);
    return;
  }
  for (let i = 0; i < 100 && !child.exited; i++) await sleep(100);
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // gone
  }
  groups.delete(pid);
}

/** Every group: SIGTERM, up to 5 s, then SIGKILL. */
export async function stopAll() {
  signalAll("SIGTERM");
  for (let i = 0; i < 50 && groups.size > 0; i++) {
    await sleep(100);
    for (const pid of groups) {
      try {
        process.kill(-pid, 0);
      } catch {
        groups.delete(pid);
      }
    }
  }
  signalAll("SIGKILL");
  groups.clear();
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Waits until `url` answers `okStatus`; throws with the log's tail if the child dies or time runs out. */
export async function waitFor(url, okStatus, child, logFile, seconds = 180) {
  for (let i = 0; i < seconds * 5; i++) {
    if (child.exited) break;
    try {
      const r = await fetch(url);
      if (r.status === okStatus) return;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  const tail = readFileSync(logFile, "utf8").split("\n").slice(-30).join("\n");
  throw new Error(`${url} did not come up (log ${logFile}):\n${tail}`);
}

/**
 * CPU seconds (user + system) used so far by the live processes of a process group, from
 * /proc (Linux; null elsewhere). The difference over a run is what the group spent on it: the
 * same measure for glance-edge, its floor (same workerd) and Glance, whatever else the machine
 * runs meanwhile. Assumes the usual 100 clock ticks a second.
 */
export function groupCpuSeconds(pgid) {
  let ticks = 0;
  let dirs;
  try {
    dirs = readdirSync("/proc");
  } catch {
    return null;
  }
  for (const d of dirs) {
    if (!/^\d+$/.test(d)) continue;
    let text;
    try {
      text = readFileSync(`/proc/${d}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    // After "pid (comm) ": state ppid pgrp session ... utime (14th field of the line) stime (15th).
    const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
    if (Number(f[2]) === pgid) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / 100;
}
