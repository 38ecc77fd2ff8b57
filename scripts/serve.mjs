#!/usr/bin/env node
// `npm run serve -- [--port 8787] [--ip 127.0.0.1] [--var KEY:VALUE ...] [--persist-to DIR]
//                   [--outdir DIR] [--no-build] [--d1 lean|miniflare] [--floor PORT]
//                   [--inspect PORT]`
//
// Serves the *bundled* Worker the way it runs in production, on workerd, without `wrangler dev`'s
// proxy worker, live reload, inspector and request logging (which cap it near 650 req/s here):
//   1. bundles with `wrangler deploy --dry-run --outdir DIR` (the exact upload, nothing injected);
//   2. applies the D1 migrations to the local database, as `npm start` does;
//   3. runs the bundle with Miniflare, the library `wrangler dev` itself runs Workers with, taking the
//      bindings and vars from wrangler.toml (and .dev.vars) through wrangler's own conversion, and the
//      same persisted D1/R2 state (.wrangler/state/v3 unless --persist-to). The port is a workerd
//      socket wired straight to the Worker, so no Miniflare entry worker sits in the request path.
// Local D1: `--d1 lean` (the default) keeps workerd's own D1 binding in the Worker but answers it
// from scripts/serve/lean-d1.worker.js, one service holding Miniflare's D1 Durable Object class
// (same class name, unique key and storage directory, hence the same SQLite file), instead of
// Miniflare's entry worker plus object worker, which cost one more isolate hop and a JSON encode
// and zod check on each side per query. `--d1 miniflare` runs Miniflare's own D1 unchanged
// (SERVE_D1=miniflare in the environment sets the default, e.g. for `npm run bench`).
// bench/faithful.mjs checks that both answer every route identically.
// `--floor PORT` also serves bench/floors/floor.js on PORT, in the same workerd, with the app's
// compatibility settings and bindings (the same local D1 and R2): `npm run bench`'s floors.
// `--inspect PORT` opens workerd's inspector (Chrome DevTools protocol) on PORT, one target per
// Worker, e.g. for CPU profiles (bench/profile.mjs); off by default, as it costs.
// AUTH_STRATEGY is trusted-headers unless a --var says otherwise. Pin to a core with
// `taskset -c 0 npm run serve`. Runs on the Node.js pinned in devDependencies. Stops, with workerd,
// on SIGINT, SIGTERM or SIGHUP and when npm is gone (lifetime.mjs).
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { run, stopOnSignalOrOrphan, terminate } from "./lifetime.mjs";
import { useLeanD1 } from "./serve/lean-d1.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// Through this Node.js: wrangler needs the one pinned in devDependencies, not the system's.
const wrangler = join(root, "node_modules", "wrangler", "bin", "wrangler.js");
const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CI: process.env.CI ?? "true" };

function usage(message) {
  if (message) console.error(`serve: ${message}`);
  console.error(
    "usage: npm run serve -- [--port N] [--ip ADDR] [--var KEY:VALUE ...] [--persist-to DIR] [--outdir DIR] [--no-build] [--d1 lean|miniflare] [--floor PORT] [--inspect PORT]",
  );
  process.exit(2);
}

let opts;
try {
  opts = parseArgs({
    options: {
      port: { type: "string", default: "8787" },
      ip: { type: "string", default: "127.0.0.1" },
      var: { type: "string", multiple: true, default: [] },
      "persist-to": { type: "string", default: join(root, ".wrangler", "state") },
      outdir: { type: "string", default: join(root, "dist") },
      "no-build": { type: "boolean", default: false },
      d1: { type: "string", default: process.env.SERVE_D1 || "lean" },
      floor: { type: "string" },
      inspect: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  }).values;
} catch (err) {
  usage(err.message);
}
if (opts.help) usage();
const isPort = (n) => Number.isInteger(n) && n >= 0 && n <= 65535;
const port = Number(opts.port);
if (!isPort(port)) usage(`bad --port ${opts.port}`);
const floorPort = opts.floor === undefined ? null : Number(opts.floor);
if (floorPort !== null && !isPort(floorPort)) usage(`bad --floor ${opts.floor}`);
const inspectorPort = opts.inspect === undefined ? undefined : Number(opts.inspect);
if (inspectorPort !== undefined && !isPort(inspectorPort)) usage(`bad --inspect ${opts.inspect}`);
const vars = { AUTH_STRATEGY: "trusted-headers" };
for (const kv of opts.var) {
  const at = kv.indexOf(":");
  if (at < 1) usage(`--var wants KEY:VALUE, got ${JSON.stringify(kv)}`);
  vars[kv.slice(0, at)] = kv.slice(at + 1);
}
if (opts.d1 !== "lean" && opts.d1 !== "miniflare") usage(`--d1 is lean or miniflare, got ${opts.d1}`);
const persistTo = resolve(opts["persist-to"]);
const outdir = resolve(opts.outdir);
const script = join(outdir, "index.js");

let mf; // the Miniflare running workerd, once created
// Miniflare's own exit hook also kills workerd at once on these signals and exits 128 + the signal's
// number; the dispose here is for the parent watch, and for an exit before Miniflare exists.
stopOnSignalOrOrphan(() => (mf === undefined ? terminate() : mf.dispose()));

async function wrangle(args, what, quiet) {
  const r = await run(process.execPath, [wrangler, ...args], { cwd: root, env, capture: quiet });
  if (r.status !== 0) {
    if (quiet) process.stderr.write(r.output);
    console.error(`serve: ${what} failed`);
    process.exit(r.status ?? 1);
  }
}

if (!opts["no-build"] || !existsSync(script)) {
  await wrangle(["deploy", "--dry-run", "--outdir", outdir], "bundling (wrangler deploy --dry-run)", true);
}
await wrangle(
  ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistTo],
  "applying D1 migrations",
  false,
);

// The Miniflare that wrangler itself depends on (not the one the test pool brings), so that
// `npm run serve` and `npm start` run the same workerd and the same local D1 implementation.
const fromWrangler = createRequire(join(root, "node_modules", "wrangler", "package.json"));
const { Miniflare, Response: MfResponse, convertV4MiniflareOptions, D1_PLUGIN } = fromWrangler("miniflare");
if (opts.d1 === "lean") useLeanD1(D1_PLUGIN);
const { unstable_getMiniflareWorkerOptions, unstable_readConfig } = await import("wrangler");

const config = unstable_readConfig({ config: join(root, "wrangler.toml") });
const { workerOptions } = unstable_getMiniflareWorkerOptions(config);
// One prebuilt module: wrangler's module rules would only matter for unbundled sources.
// Static assets ([assets]: the /docs page's script): Miniflare would put its asset router in
// front of every request, a fifth of GET /versions's rate here, where Cloudflare routes assets
// without the Worker's CPU. The Worker reads its assets through the ASSETS binding instead,
// answered here from the directory.
const { modulesRules: _rules, assets, ...bindingsAndCompat } = workerOptions;
const TYPES = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".html": "text/html",
};
function assetsFrom(directory) {
  return async (request) => {
    const path = resolve(directory, `.${decodeURIComponent(new URL(request.url).pathname)}`);
    if (!path.startsWith(`${resolve(directory)}/`)) return new MfResponse(null, { status: 404 });
    try {
      const type = TYPES[path.slice(path.lastIndexOf("."))] ?? "application/octet-stream";
      return new MfResponse(await readFile(path), { headers: { "Content-Type": type } });
    } catch {
      return new MfResponse(null, { status: 404 });
    }
  };
}
const serviceBindings = {
  ...bindingsAndCompat.serviceBindings,
  ...(assets ? { [assets.binding ?? "ASSETS"]: assetsFrom(assets.directory) } : {}),
};
const bindings = { ...workerOptions.bindings, ...vars };
const floorDir = join(root, "bench", "floors");
/** The bench's floor Worker: the app's compatibility settings and bindings, its own module. */
const floor = floorPort !== null && {
  ...bindingsAndCompat,
  name: `${config.name}-floor`,
  rootPath: floorDir,
  modules: true,
  scriptPath: join(floorDir, "floor.js"),
  bindings,
  unsafeDirectSockets: [{ host: opts.ip, port: floorPort }],
};

mf = new Miniflare(
  convertV4MiniflareOptions({
    // Miniflare's own entry socket stays on loopback on a random port; clients use the direct one.
    host: "127.0.0.1",
    port: 0,
    resourcePersistencePath: join(persistTo, "v3"),
    logRequests: false,
    inspectorPort,
    workers: [
      {
        ...bindingsAndCompat,
        serviceBindings,
        name: config.name,
        // The bundle's directory is the module root, so the bundle may live outside the project.
        rootPath: outdir,
        modules: true,
        scriptPath: script,
        bindings,
        unsafeDirectSockets: [{ host: opts.ip, port }],
      },
      ...(floor ? [floor] : []),
    ],
  }),
);

try {
  await mf.ready;
} catch (err) {
  console.error(`serve: workerd did not start: ${err.message}`);
  try {
    await mf.dispose();
  } finally {
    process.exit(1);
  }
}
const url = await mf.unsafeGetDirectURL(config.name);
const shown = Object.entries(vars)
  .map(([k, v]) => `${k}=${v}`)
  .join(" ");
console.log(
  `glance-edge: serving ${script} on ${url.href} (state ${join(persistTo, "v3")}, ${opts.d1} D1; ${shown})`,
);
if (floor) console.log(`glance-edge: bench floors on ${(await mf.unsafeGetDirectURL(floor.name)).href}`);
