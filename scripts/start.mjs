#!/usr/bin/env node
// `npm start [-- wrangler dev options]`: apply the D1 migrations to the local database, then
// serve the Worker with `wrangler dev` on 127.0.0.1:8787 with trusted-headers identity.
// Runs on the Node.js pinned in devDependencies (npm puts node_modules/.bin first on PATH).
// Stops, with wrangler and workerd, on SIGINT, SIGTERM or SIGHUP and when npm is gone (lifetime.mjs).
import { spawn } from "node:child_process";
import { once } from "node:events";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { run, stopOnSignalOrOrphan, terminate } from "./lifetime.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const wrangler = join(root, "node_modules", ".bin", "wrangler");
// No account, no network: no telemetry, no fetch of the Request.cf placeholder data.
const env = {
  ...process.env,
  WRANGLER_SEND_METRICS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  CI: process.env.CI ?? "true",
};
const args = process.argv.slice(2);
const has = (flag) => args.some((a) => a === flag || a.startsWith(`${flag}=`));

// The migrations must land where `wrangler dev` will look: the same --persist-to, when given.
const persistAt = args.findIndex((a) => a === "--persist-to" || a.startsWith("--persist-to="));
const persist =
  persistAt < 0
    ? []
    : args[persistAt]?.includes("=")
      ? [args[persistAt]]
      : ["--persist-to", args[persistAt + 1] ?? ""];
let child; // `wrangler dev`, once started
// wrangler dev tears workerd down on SIGINT or SIGTERM (its bin/wrangler.js forwards no other signal).
stopOnSignalOrOrphan((reason) => {
  if (child === undefined) return terminate(); // the migrations
  child.kill(reason === "SIGINT" ? "SIGINT" : "SIGTERM");
  return once(child, "exit");
});

const migrate = await run(wrangler, ["d1", "migrations", "apply", "DB", "--local", ...persist], {
  cwd: root,
  env,
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
child = spawn(wrangler, dev, { cwd: root, env, stdio: "inherit" });
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
