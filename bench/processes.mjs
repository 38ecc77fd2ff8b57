// Child processes of the bench scripts: each in its own process group, so a whole tree (npm →
// node → workerd) stops together, and every group is killed on every way out of the script.
import { spawn } from "node:child_process";
import { openSync, readFileSync } from "node:fs";
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
