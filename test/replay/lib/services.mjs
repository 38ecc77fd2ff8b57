// The two services of the replay, each in its own process group on a fresh database, stopped on
// every way out (normal end, failure, SIGINT/SIGTERM/SIGHUP).
import { spawn, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const replayDir = join(here, "..");
export const root = join(replayDir, "..", "..");
const glanceTemplates = join(replayDir, "glance");

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- process groups -------------------------------------------------------------------------------
const groups = new Set();

function signalAll(signal) {
  for (const pid of groups) {
    try {
      process.kill(-pid, signal);
    } catch {
      groups.delete(pid);
    }
  }
}
process.on("exit", () => signalAll("SIGKILL"));

function startGroup(cmd, args, logFile, options = {}) {
  const out = openSync(logFile, "a");
  const child = spawn(cmd, args, {
    cwd: options.cwd ?? root,
    env: options.env ?? process.env,
    detached: true,
    stdio: ["ignore", out, out],
  });
  groups.add(child.pid);
  child.exited = false;
  child.on("exit", () => {
    child.exited = true;
  });
  return child;
}

/** SIGTERM to the child's whole group, up to 10 s, then SIGKILL. */
export async function stopGroup(child) {
  if (!child) return;
  const pid = child.pid;
  try {
    process.kill(-pid, "SIGTERM");
  } catch {
    groups.delete(pid);
    return;
  }
  for (let i = 0; i < 100 && !child.exited; i++) await sleep(100);
  // The leader may be gone while children (workerd, glance workers) still wind down.
  for (let i = 0; i < 30; i++) {
    try {
      process.kill(-pid, 0);
    } catch {
      break;
    }
    await sleep(100);
  }
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // gone
  }
  groups.delete(pid);
}

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

// ---- ports ----------------------------------------------------------------------------------------
export function portFree(port) {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
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

async function waitFor(url, okStatus, child, logFiles, seconds) {
  for (let i = 0; i < seconds * 10; i++) {
    if (child.exited) break;
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await r.arrayBuffer();
      if (r.status === okStatus) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  const tails = logFiles
    .filter((f) => existsSync(f))
    .map((f) => `--- ${f}\n${readFileSync(f, "utf8").split("\n").slice(-30).join("\n")}`)
    .join("\n");
  throw new Error(`${url} did not come up${child.exited ? " (process exited)" : ""}:\n${tails}`);
}

// ---- Glance ---------------------------------------------------------------------------------------
const have = (cmd) => !spawnSync(cmd, ["--version"], { stdio: "ignore" }).error;

function aptInstall(pkg, log) {
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const sudo = process.getuid?.() === 0 ? [] : ["sudo", "-n"];
  const apt = (...args) =>
    spawnSync(sudo[0] ?? "apt-get", [...sudo.slice(1), ...(sudo.length ? ["apt-get"] : []), ...args], {
      stdio: ["ignore", "inherit", "inherit"],
      env,
    }).status === 0;
  log(`installing ${pkg} with apt-get`);
  const install = () => apt("install", "-y", "--no-install-recommends", pkg);
  if (!install() && !(apt("update") && install())) throw new Error(`could not install ${pkg}`);
}

function glanceVersion() {
  const r = spawnSync("dpkg-query", ["-W", `-f=$\{Version}`, "python3-glance"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : "unknown";
}

/**
 * Glance 25 on 127.0.0.1, trusting keystonemiddleware's identity headers (no authtoken filter),
 * with a fresh SQLite database (from a db_sync'ed template cached per Glance version).
 * `rbac`: `[oslo_policy] enforce_new_defaults` and `[DEFAULT] enforce_secure_rbac`.
 */
export async function startGlance({ dir, port, rbac, workers = 1, log }) {
  if (!have("glance-api")) aptInstall("glance-api", log);
  for (const sub of ["images", "staging", "lock", "policy.d", "conf.d"]) {
    mkdirSync(join(dir, sub), { recursive: true });
  }
  const version = glanceVersion();
  const conf = readFileSync(join(glanceTemplates, "glance-api.conf.in"), "utf8")
    .replaceAll("@STATE@", dir)
    .replaceAll("@HOST@", "127.0.0.1")
    .replaceAll("@PORT@", String(port))
    .replaceAll("@WORKERS@", String(workers))
    .replaceAll("@POLICY@", join(glanceTemplates, "policy.yaml"))
    .replaceAll("@RBAC@", rbac ? "true" : "false")
    .replaceAll("@DEBUG@", "false");
  writeFileSync(join(dir, "glance-api.conf"), conf);
  writeFileSync(
    join(dir, "glance-api-paste.ini"),
    readFileSync(join(glanceTemplates, "glance-api-paste.ini"), "utf8").replaceAll("@STATE@", dir),
  );
  // Found by CONF.find_file() next to the config file, before /etc/glance.
  copyFileSync(join(glanceTemplates, "schema-image.json"), join(dir, "schema-image.json"));
  const confArgs = ["--config-file", join(dir, "glance-api.conf"), "--config-dir", join(dir, "conf.d")];

  const cacheDir = join(tmpdir(), "glance-edge-replay-cache");
  mkdirSync(cacheDir, { recursive: true });
  const template = join(cacheDir, `glance-${version.replace(/[^A-Za-z0-9.]/g, "_")}.sqlite`);
  if (!existsSync(template)) {
    log(`glance-manage db_sync (first run for Glance ${version})`);
    const sync = spawnSync("glance-manage", [...confArgs, "db_sync"], { encoding: "utf8" });
    if (sync.status !== 0) throw new Error(`glance-manage db_sync failed:\n${sync.stdout}${sync.stderr}`);
    copyFileSync(join(dir, "glance.sqlite"), `${template}.tmp`);
    spawnSync("mv", [`${template}.tmp`, template]);
  } else {
    copyFileSync(template, join(dir, "glance.sqlite"));
  }
  const logFile = join(dir, "glance-api.stdout");
  const child = startGroup("glance-api", confArgs, logFile);
  await waitFor(`http://127.0.0.1:${port}/`, 300, child, [logFile, join(dir, "glance-api.log")], 120);
  return { name: "glance", base: `http://127.0.0.1:${port}`, child, version, dir };
}

// ---- glance-edge ----------------------------------------------------------------------------------
/**
 * A read-only snapshot of the project at a git ref (`git archive`, nothing in the repository
 * changes), sharing the working tree's node_modules: to replay a committed state while the working
 * tree is mid-edit.
 */
export function snapshot(ref, into) {
  mkdirSync(into, { recursive: true });
  const archive = spawnSync("git", ["-C", root, "archive", "--format=tar", ref], { maxBuffer: 1 << 30 });
  if (archive.status !== 0) throw new Error(`git archive ${ref} failed: ${archive.stderr}`);
  const untar = spawnSync("tar", ["-x", "-C", into], { input: archive.stdout });
  if (untar.status !== 0) throw new Error(`untar of ${ref} failed: ${untar.stderr}`);
  symlinkSync(join(root, "node_modules"), join(into, "node_modules"));
  const rev = spawnSync("git", ["-C", root, "rev-parse", "--short", ref], { encoding: "utf8" });
  return rev.stdout.trim();
}

/**
 * `npm run serve -- --port PORT --persist-to DIR --var POLICY_DEFAULTS:<policy>` (trusted-headers is
 * serve's default). The bundle goes to `outdir`, not the project's dist/, so that a replay never
 * races another engineer's build; `build: false` reuses it.
 */
export async function startEdge({ dir, outdir, port, policy, build, log, cwd = root }) {
  mkdirSync(dir, { recursive: true });
  const logFile = join(dir, "..", `serve-${policy}.log`);
  const args = ["run", "--silent", "serve", "--", "--port", String(port), "--persist-to", dir];
  args.push("--outdir", outdir, "--var", `POLICY_DEFAULTS:${policy}`);
  if (!build) args.push("--no-build");
  log(`npm ${args.join(" ")}`);
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" };
  const child = startGroup("npm", args, logFile, { env, cwd });
  try {
    await waitFor(`http://127.0.0.1:${port}/versions`, 200, child, [logFile], 240);
  } catch (err) {
    if (/bundling \(wrangler deploy --dry-run\) failed/.test(readFileSync(logFile, "utf8"))) {
      err.message += "\nglance-edge does not build as it is; --edge-ref HEAD replays the last commit";
    }
    throw err;
  }
  return { name: "edge", base: `http://127.0.0.1:${port}`, child, dir, logFile };
}
