#!/usr/bin/env node
// `npm start [-- wrangler dev options]`: apply the D1 migrations to the local database, then
// serve the Worker with `wrangler dev` on 127.0.0.1:8787 with trusted-headers identity.
// Runs on the Node.js pinned in devDependencies (npm puts node_modules/.bin first on PATH).
import { spawn, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const wrangler = join(root, "node_modules", ".bin", "wrangler");
const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CI: process.env.CI ?? "true" };
const args = process.argv.slice(2);
const has = (flag) => args.some((a) => a === flag || a.startsWith(`${flag}=`));

const migrate = spawnSync(wrangler, ["d1", "migrations", "apply", "DB", "--local"], {
  cwd: root,
  env,
  stdio: "inherit",
});
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

const dev = [
  "dev",
  ...(has("--ip") ? [] : ["--ip", "127.0.0.1"]),
  ...(has("--port") ? [] : ["--port", "8787"]),
  // First, so that a --var given on the command line wins.
  "--var",
  "AUTH_STRATEGY:trusted-headers",
  ...args,
];
const child = spawn(wrangler, dev, { cwd: root, env, stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
