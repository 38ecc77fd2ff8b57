#!/usr/bin/env node
// npm run bench [-- options]        member operations on a small database (one image, 10 members),
//                                   then image data (upload, download), each beside its floor and
//                                   Glance: the figures of bench/README.md
// npm run bench:data [-- options]   the image data part alone (--part data)
// npm run bench:scale [-- options]  the same service on 100,000 images / 1,000,000 memberships
//                                   against a small database with the same callers, side by side
//
// Floors: `npm run serve -- --floor PORT` also serves bench/floors/floor.js, a Worker doing only
// an operation's I/O (the same D1 statements; request.body -> R2 put; R2 get -> response), in the
// same workerd with the same bindings. Each operation's share of its floor is measured run by run.
//
// Options:
//   --part P          all (default), members or data
//   --mib N           size of the image data file in MiB (default 100)
//   --duration S      seconds per wrk run (default 5, at least 5 for published figures)
//   --runs N          runs per operation, interleaved across operations and servers (default 3)
//   --connections C   wrk connections (default 16); --threads T wrk threads (default 1)
//   --cpu N           the CPU the service is pinned to with taskset (default 0; wrk gets the
//                     others); --no-pin runs both unpinned (also the fallback without taskset)
//   --no-glance       do not start OpenStack Glance (by default, but with --scale only on --glance:
//                     Debian's glance-api, installed with
//                     apt-get if missing, pinned the same way, loaded with the same operations, with a
//                     glance-edge/Glance column; skipped with a warning if it cannot be installed)
//   --images N        --scale: total images (default 100000; 10 memberships each)
//   --keep            keep the throw-away state directory (printed) instead of deleting it
//
// The service runs through `npm run serve` on a free loopback port with trusted-headers identity
// and its own throw-away persist dir, so the developer's .wrangler/state is never touched. Every
// process started here is stopped at the end, also on failure or Ctrl-C. A JSON summary goes to
// bench/results/ (git-ignored).
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { runData } from "./data.mjs";
import { freePort, groupCpuSeconds, startGroup, stopAll, stopGroup, waitFor } from "./processes.mjs";
import { f1, f2, median, pct, ratio, table, times } from "./report.mjs";
import { PROBE_MEMBER, PROBE_OWNER, seed } from "./seed-scale.mjs";

const bench = dirname(fileURLToPath(import.meta.url));
const root = join(bench, "..");

const { values: opt } = parseArgs({
  options: {
    duration: { type: "string", default: "5" },
    runs: { type: "string", default: "3" },
    connections: { type: "string", default: "16" },
    threads: { type: "string", default: "1" },
    cpu: { type: "string", default: "0" },
    "no-pin": { type: "boolean", default: false },
    glance: { type: "boolean" },
    "no-glance": { type: "boolean", default: false },
    part: { type: "string", default: "all" },
    mib: { type: "string", default: "100" },
    scale: { type: "boolean", default: false },
    images: { type: "string", default: "100000" },
    keep: { type: "boolean", default: false },
  },
});
const DURATION = Number(opt.duration);
const RUNS = Number(opt.runs);
if (!["all", "members", "data"].includes(opt.part)) throw new Error(`--part is all, members or data`);
const MEMBERS_PART = opt.scale || opt.part !== "data";
const DATA_PART = !opt.scale && opt.part !== "members";
// Glance by default beside the small database (npm run bench), on request with --scale.
let GLANCE = opt["no-glance"] ? false : (opt.glance ?? !opt.scale);
const OWNER = "perf-owner-project";
const MEMBER = "perf-member-01";

const log = (line) => console.error(line);
const load = () => loadavg().map((x) => x.toFixed(2));

// ---- processes we started: stopped on every way out (bench/processes.mjs) ----------------------
let scratch = null; // the throw-away state directory, removed on every way out unless --keep
function removeScratch() {
  if (scratch === null) return;
  if (opt.keep) log(`bench: kept ${scratch}`);
  else rmSync(scratch, { recursive: true, force: true });
  scratch = null;
}
process.on("exit", removeScratch);
let interrupted = false;
const loaders = new Set(); // running wrk processes
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, async () => {
    interrupted = true;
    log(`bench: ${signal}, stopping`);
    for (const child of loaders) child.kill("SIGTERM");
    await stopAll();
    process.exit(130);
  });
}

// ---- tools ----------------------------------------------------------------------------------------
const have = (cmd, args = ["--version"]) => !spawnSync(cmd, args, { stdio: "ignore" }).error;

function aptInstall(...packages) {
  if (!tryAptInstall(...packages))
    throw new Error(`could not install ${packages.join(" ")}; install them and run again`);
}

function tryAptInstall(...packages) {
  const sudo = process.getuid?.() === 0 ? [] : ["sudo", "-n"];
  const apt = (...args) =>
    spawnSync(sudo[0] ?? "apt-get", [...sudo.slice(1), ...(sudo.length ? ["apt-get"] : []), ...args], {
      stdio: "inherit",
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    }).status === 0;
  log(`bench: installing ${packages.join(" ")} with apt-get`);
  const install = () => apt("install", "-y", "--no-install-recommends", ...packages);
  return install() || (apt("update") && install());
}

// ---- pinning ---------------------------------------------------------------------------------------
const nproc = cpus().length;
const pin = !opt["no-pin"] && have("taskset", ["-V"]) && nproc > 1;
const serviceCpu = Number(opt.cpu);
const loadCpus = [...Array(nproc).keys()].filter((c) => c !== serviceCpu).join(",");
const pinned = (cpu, cmd, args) => (pin ? ["taskset", ["-c", String(cpu), cmd, ...args]] : [cmd, args]);

// ---- servers ---------------------------------------------------------------------------------------
async function startEdge(name, persistTo, dist, build, withFloor = false) {
  const port = await freePort();
  const floorPort = withFloor ? await freePort() : null;
  mkdirSync(persistTo, { recursive: true });
  const logFile = join(persistTo, "..", `serve-${name}.log`);
  const args = ["run", "--silent", "serve", "--", "--port", String(port), "--persist-to", persistTo];
  args.push("--outdir", dist, ...(build ? [] : ["--no-build"]));
  if (floorPort !== null) args.push("--floor", String(floorPort));
  const child = startGroup(...pinned(serviceCpu, "npm", args), logFile, root);
  await waitFor(`http://127.0.0.1:${port}/versions`, 200, child, logFile);
  log(`bench: glance-edge (${name}) up on port ${port}, pid ${child.pid}`);
  const edge = { name, kind: "edge", base: `http://127.0.0.1:${port}`, child, group: child.pid };
  if (floorPort === null) return [edge];
  // The floor Worker lives in the same workerd: stopped with it.
  await waitFor(`http://127.0.0.1:${floorPort}/`, 404, child, logFile);
  log(`bench: floors up on port ${floorPort}, same workerd`);
  const floor = (name, io) => ({
    name,
    kind: "floor",
    io,
    base: `http://127.0.0.1:${floorPort}`,
    child: null,
    group: child.pid,
  });
  // "floor": the I/O docs/reference.md §13 asks of every request (the statements in a D1 session,
  // the remembered bookmark read from the Cache API, a write's new one stored): the target.
  // "sess" and "stmts": without the Cache API, and without the session too, to show what each
  // costs on this runtime.
  return [edge, floor("floor", "session,remember"), floor("sess", "session"), floor("stmts", "")];
}

/** Glance 25 from Debian, trusting the same identity headers; its own config, fresh SQLite. */
async function startGlance(dir) {
  if (!have("glance-api", ["--version"]) && !tryAptInstall("glance-api")) {
    log("bench: WARNING: glance-api is not installed and could not be; no Glance column");
    return null;
  }
  const port = await freePort();
  mkdirSync(join(dir, "conf.d"), { recursive: true });
  for (const sub of ["images", "staging", "lock", "policy.d"]) mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(
    join(dir, "glance-api.conf"),
    `[DEFAULT]
bind_host = 127.0.0.1
bind_port = ${port}
workers = 1
debug = false
use_stderr = false
log_file = ${dir}/glance-api.log
enforce_secure_rbac = false
node_staging_uri = file://${dir}/staging
[database]
connection = sqlite:///${dir}/glance.sqlite
[glance_store]
stores = file
default_store = file
filesystem_store_datadir = ${dir}/images
[oslo_concurrency]
lock_path = ${dir}/lock
[oslo_messaging_notifications]
driver = noop
[oslo_policy]
policy_file = ${dir}/policy.yaml
policy_dirs = ${dir}/policy.d
enforce_new_defaults = false
enforce_scope = false
[paste_deploy]
flavor = trusted-auth
config_file = ${dir}/glance-api-paste.ini
`,
  );
  // Glance's own keystone pipeline without keystonemiddleware: ContextMiddleware trusts the
  // X-Identity-Status/X-Project-Id/X-Roles headers. Loopback only.
  writeFileSync(
    join(dir, "glance-api-paste.ini"),
    `[pipeline:glance-api-trusted-auth]
pipeline = cors healthcheck http_proxy_to_wsgi versionnegotiation osprofiler context rootapp
[composite:rootapp]
paste.composite_factory = glance.api:root_app_factory
/: apiversions
/v2: apiv2app
[app:apiversions]
paste.app_factory = glance.api.versions:create_resource
[app:apiv2app]
paste.app_factory = glance.api.v2.router:API.factory
[filter:healthcheck]
paste.filter_factory = oslo_middleware:Healthcheck.factory
backends = disable_by_file
disable_by_file_path = ${dir}/healthcheck_disable
[filter:versionnegotiation]
paste.filter_factory = glance.api.middleware.version_negotiation:VersionNegotiationFilter.factory
[filter:context]
paste.filter_factory = glance.api.middleware.context:ContextMiddleware.factory
[filter:osprofiler]
paste.filter_factory = osprofiler.web:WsgiMiddleware.factory
[filter:cors]
paste.filter_factory = oslo_middleware.cors:filter_factory
oslo_config_project = glance
oslo_config_program = glance-api
[filter:http_proxy_to_wsgi]
paste.filter_factory = oslo_middleware:HTTPProxyToWSGI.factory
`,
  );
  writeFileSync(join(dir, "policy.yaml"), "{}\n");
  const conf = ["--config-file", join(dir, "glance-api.conf"), "--config-dir", join(dir, "conf.d")];
  const sync = spawnSync("glance-manage", [...conf, "db_sync"], { encoding: "utf8" });
  if (sync.status !== 0) throw new Error(`glance-manage db_sync failed:\n${sync.stdout}${sync.stderr}`);
  const logFile = join(dir, "glance-api.stdout");
  const child = startGroup(...pinned(serviceCpu, "glance-api", conf), logFile, root);
  await waitFor(`http://127.0.0.1:${port}/`, 300, child, logFile, 120);
  log(`bench: Glance up on port ${port}, pid ${child.pid}`);
  return { name: "glance", kind: "glance", base: `http://127.0.0.1:${port}`, child, group: child.pid };
}

const stop = (server) => (server.child ? stopGroup(server.child) : undefined);

// ---- API seeding ----------------------------------------------------------------------------------
/** The trusted identity headers of a bench project (loopback only). */
function identityHeaders(project) {
  return {
    "X-Identity-Status": "Confirmed",
    "X-Project-Id": project,
    "X-User-Id": "bench-user",
    "X-Roles": "member,reader",
  };
}

function as(base, project) {
  const headers = {
    ...identityHeaders(project),
    Accept: "application/json",
    "Content-Type": "application/json",
  };
  return async (method, path, body) => {
    const r = await fetch(`${base}${path}`, { method, headers, body: body && JSON.stringify(body) });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${path} as ${project}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
}

/** One shared image of OWNER with 10 members, MEMBER among them (as Glance's perf.sh does). */
async function seedMembers(server) {
  const owner = as(server.base, OWNER);
  const image = await owner("POST", "/v2/images", {
    name: "bench",
    visibility: "shared",
    disk_format: "raw",
    container_format: "bare",
  });
  for (let i = 1; i <= 10; i++) {
    await owner("POST", `/v2/images/${image.id}/members`, {
      member: `perf-member-${String(i).padStart(2, "0")}`,
    });
  }
  const { members } = await owner("GET", `/v2/images/${image.id}/members`);
  if (members.length !== 10) throw new Error(`expected 10 members, got ${members.length}`);
  await as(server.base, MEMBER)("GET", `/v2/images/${image.id}/members/${MEMBER}`);
  return image.id;
}

function operations(server, imageId, scale) {
  const members = `/v2/images/${imageId}/members`;
  if (server.kind === "floor") {
    // The same D1 I/O as each member operation, nothing else (bench/floors/floor.js).
    const session =
      (server.io.includes("session") ? "&session=first-unconstrained" : "") +
      (server.io.includes("remember") ? `&remember=${MEMBER}` : "");
    const read = `/d1/read?image=${imageId}${session}`;
    return [
      {
        op: "list",
        target: `/d1/list?image=${imageId}${session}`,
        what: "floor: one statement, the image row and its 10 member rows",
      },
      { op: "show", target: read, what: "floor: one primary-key read" },
      {
        op: "put",
        target: `/d1/write?image=${imageId}&member=${MEMBER}${session}`,
        method: "PUT",
        what: "floor: one batch, primary-key read + the member row's status write",
      },
    ];
  }
  const ops = [
    { op: "list", project: OWNER, target: members, what: "member list as owner (10 members)" },
    { op: "show", project: MEMBER, target: `${members}/${MEMBER}`, what: "member show as the member" },
  ];
  if (scale) {
    ops.push(
      {
        op: "images-member",
        project: PROBE_MEMBER,
        target: "/v2/images",
        what: "GET /v2/images as a member",
      },
      { op: "images-owner", project: PROBE_OWNER, target: "/v2/images", what: "GET /v2/images as an owner" },
    );
  } else {
    ops.push(
      {
        op: "put",
        project: MEMBER,
        target: `${members}/${MEMBER}`,
        method: "PUT",
        what: "PUT status toggle",
      },
      { op: "versions", target: "/versions", what: "GET /versions (ceiling)" },
    );
  }
  return ops.filter((o) => server.kind === "edge" || !o.op.startsWith("images"));
}

// ---- wrk --------------------------------------------------------------------------------------------
/** One wrk run; async so that Ctrl-C is handled while it runs. */
function wrk(server, op, seconds) {
  const args = ["-t", opt.threads, "-c", opt.connections, "-d", `${seconds}s`, "--latency"];
  args.push("-s", join(bench, "wrk.lua"), server.base);
  const [cmd, full] = pin ? ["taskset", ["-c", loadCpus, "wrk", ...args]] : ["wrk", args];
  const env = { ...process.env, OP: op.op, TARGET: op.target, METHOD: op.method ?? "GET" };
  if (op.project) env.PROJECT = op.project;
  else delete env.PROJECT;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, full, { env, stdio: ["ignore", "pipe", "pipe"] });
    loaders.add(child);
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      out += d;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      loaders.delete(child);
      const line = out.split("\n").find((l) => l.startsWith("RESULT "));
      if (code !== 0 || !line) reject(new Error(`wrk failed for ${op.op}:\n${out}`));
      else resolve(JSON.parse(line.slice(7)));
    });
  });
}

/** curl with these arguments, pinned like wrk; resolves to its stdout. */
function curl(args) {
  const [cmd, full] = pin ? ["taskset", ["-c", loadCpus, "curl", ...args]] : ["curl", args];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, full, { stdio: ["ignore", "pipe", "pipe"] });
    loaders.add(child);
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      err += d;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      loaders.delete(child);
      if (code !== 0) reject(new Error(`curl ${args.join(" ")} failed (${code}): ${err}`));
      else resolve(out);
    });
  });
}

// ---- report -----------------------------------------------------------------------------------------
function summarize(results) {
  const by = new Map();
  for (const r of results) {
    const key = `${r.server}\t${r.op}`;
    if (!by.has(key)) by.set(key, []);
    by.get(key).push(r);
  }
  return [...by.values()].map((rs) => ({
    server: rs[0].server,
    op: rs[0].op,
    runs: rs.length,
    rps: median(rs.map((r) => r.rps)),
    rps_min: Math.min(...rs.map((r) => r.rps)),
    rps_max: Math.max(...rs.map((r) => r.rps)),
    p50_ms: median(rs.map((r) => r.p50_ms)),
    p99_ms: median(rs.map((r) => r.p99_ms)),
    cpu_ms_per_req: rs.some((r) => r.cpu_ms_per_req === null)
      ? null
      : median(rs.map((r) => r.cpu_ms_per_req)),
    non2xx: rs.reduce((n, r) => n + r.errors.status, 0),
    socket_errors: rs.reduce(
      (n, r) => n + r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout,
      0,
    ),
  }));
}

/** The request-rate part: every operation of every server, RUNS times, interleaved. */
async function runRequests(plans, glance, edgeName) {
  // Warm-up (JIT, SQLite page cache), not recorded.
  for (const { server, ops } of plans) for (const op of ops) await wrk(server, op, 1);

  const results = [];
  // Operation-major: each operation runs on every server back to back, so the servers being
  // compared (glance-edge, its floor, Glance) see the same moment of the machine's load. Every
  // other run takes the servers in reverse order, so that none always runs first, or always just
  // after Glance or after a run that wrote.
  const opNames = [...new Set(plans.flatMap((p) => p.ops.map((o) => o.op)))];
  for (let run = 1; run <= RUNS; run++) {
    const inTurn = run % 2 === 1 ? plans : [...plans].reverse();
    for (const name of opNames) {
      for (const { server, ops } of inTurn) {
        const op = ops.find((o) => o.op === name);
        if (!op) continue;
        const loadBefore = load();
        const cpu0 = groupCpuSeconds(server.group);
        const r = await wrk(server, op, DURATION);
        const cpu = cpu0 === null ? null : groupCpuSeconds(server.group) - cpu0;
        const cpu_ms_per_req = cpu === null || r.requests === 0 ? null : (1000 * cpu) / r.requests;
        results.push({ ...r, cpu_ms_per_req, server: server.name, run, loadavg: loadBefore });
        log(
          `run ${run} ${server.name.padEnd(6)} ${op.op.padEnd(13)} ${f1(r.rps).padStart(8)} req/s  p50 ${f2(r.p50_ms)} ms  p99 ${f2(r.p99_ms)} ms  CPU ${f2(cpu_ms_per_req)} ms/req  (loadavg ${loadBefore[0]})`,
        );
      }
    }
  }

  const summary = summarize(results);
  const floor = plans.some((p) => p.server.kind === "floor");
  for (const s of summary) {
    const me = { server: s.server, op: s.op };
    if (s.op !== "versions" && !opt.scale)
      s.vs_ceiling = ratio(results, RUNS, me, { server: s.server, op: "versions" }, "rps");
    if (floor && s.server === edgeName) {
      s.of_floor = ratio(results, RUNS, me, { server: "floor", op: s.op }, "rps");
      // The same share in CPU time per request: the floor's over the app's.
      s.of_floor_cpu = ratio(results, RUNS, { server: "floor", op: s.op }, me, "cpu_ms_per_req");
    }
    if (glance && s.server !== "glance")
      s.vs_glance = ratio(results, RUNS, me, { server: "glance", op: s.op }, "rps");
    if (s.server === "scale")
      s.p50_vs_small = ratio(results, RUNS, me, { server: "small", op: s.op }, "p50_ms");
  }
  const columns = [
    ["op", (r) => r.op],
    ["server", (r) => r.server],
    ["req/s", (r) => f1(r.rps)],
    ["min-max", (r) => `${r.rps_min.toFixed(0)}-${r.rps_max.toFixed(0)}`],
    ["p50 ms", (r) => f2(r.p50_ms)],
    ["p99 ms", (r) => f2(r.p99_ms)],
  ];
  columns.push(["CPU ms/req", (r) => f2(r.cpu_ms_per_req)]);
  if (floor) columns.push(["of floor", (r) => pct(r.of_floor)], ["(CPU)", (r) => pct(r.of_floor_cpu)]);
  if (!opt.scale) columns.push(["vs ceiling", (r) => pct(r.vs_ceiling)]);
  if (glance) columns.push(["vs Glance", (r) => times(r.vs_glance)]);
  if (opt.scale) columns.push(["p50 vs small", (r) => times(r.p50_vs_small)]);
  columns.push(["non-2xx", (r) => String(r.non2xx + r.socket_errors)]);
  const opOrder = [...new Set(results.map((r) => r.op))];
  const serverRank = { edge: 0, small: 0, scale: 1, floor: 1, sess: 2, stmts: 3, glance: 4 };
  const rank = (s) => opOrder.indexOf(s.op) * 10 + (serverRank[s.server] ?? 3);
  summary.sort((a, b) => rank(a) - rank(b));
  return { summary, results, text: table(summary, columns) };
}

// ---- main -------------------------------------------------------------------------------------------
async function main() {
  if (MEMBERS_PART && !have("wrk", ["-v"])) aptInstall("wrk");
  if (DATA_PART && !have("curl")) aptInstall("curl");
  const tmp = mkdtempSync(join(tmpdir(), "glance-edge-bench-"));
  scratch = tmp;
  const startedAt = new Date();
  const loadStart = load();
  log(`bench: state in ${tmp}; nproc ${nproc}; loadavg ${loadStart.join(" ")}`);
  if (DURATION < 5 || RUNS < 3)
    log("bench: under 5 s per run or 3 runs: a smoke test, not figures to publish");
  log(
    pin
      ? `bench: service pinned to CPU ${serviceCpu} (taskset), wrk and curl to CPU ${loadCpus}`
      : "bench: no pinning (--no-pin, no taskset, or one CPU)",
  );
  const dist = join(tmp, "dist");
  const servers = [];
  let seeded = null;
  try {
    if (opt.scale) {
      const images = Number(opt.images);
      for (const [name, total] of [
        ["small", 200],
        ["scale", images],
      ]) {
        const persistTo = join(tmp, name, "state");
        log(`bench: seeding ${name} database (${total} images, ${total * 10} memberships) by SQL`);
        const s = await seed({ persistTo, images: total, log });
        if (name === "scale") seeded = s;
      }
      servers.push(...(await startEdge("small", join(tmp, "small", "state"), dist, true)));
      servers.push(...(await startEdge("scale", join(tmp, "scale", "state"), dist, false)));
    } else {
      servers.push(...(await startEdge("edge", join(tmp, "edge", "state"), dist, true, true)));
    }
    let glance = null;
    if (GLANCE) {
      glance = await startGlance(join(tmp, "glance"));
      if (glance) servers.push(glance);
      else GLANCE = false;
    }
    const edge = servers.find((s) => s.kind === "edge");
    const floor = servers.find((s) => s.name === "floor") ?? null;
    const edgeName = opt.scale ? "small" : "edge";

    const plans = [];
    for (const server of servers.filter((s) => s.kind !== "floor")) {
      const imageId = await seedMembers(server);
      plans.push({ server, ops: operations(server, imageId, opt.scale) });
      if (server === edge) {
        for (const f of servers.filter((s) => s.kind === "floor"))
          plans.push({ server: f, ops: operations(f, imageId, false) });
      }
      log(`bench: ${server.name}: image ${imageId} with 10 members`);
    }
    if (opt.scale) {
      for (const { server } of plans) {
        for (const project of [PROBE_MEMBER, PROBE_OWNER]) {
          const page = await as(server.base, project)("GET", "/v2/images");
          log(`bench: ${server.name}: GET /v2/images as ${project}: ${page.images.length} images`);
        }
      }
    }
    // Plans in the order the table shows them: glance-edge, its floor, Glance.
    const order = { edge: 0, floor: 1, glance: 2 };
    plans.sort((a, b) => (order[a.server.kind] ?? 0) - (order[b.server.kind] ?? 0));

    const requests = MEMBERS_PART ? await runRequests(plans, GLANCE, edgeName) : null;
    const data = DATA_PART
      ? await runData({
          edge,
          floor,
          glance,
          tmp,
          mib: Number(opt.mib),
          duration: DURATION,
          runs: RUNS,
          curl,
          api: (server) => as(server.base, OWNER),
          identity: Object.entries(identityHeaders(OWNER)).flatMap(([k, v]) => ["-H", `${k}: ${v}`]),
          log,
          load,
        })
      : null;

    const loadEnd = load();
    console.log(
      `\nglance-edge ${opt.scale ? "scale " : ""}benchmark, ${startedAt.toISOString()}: nproc ${nproc} (${cpus()[0]?.model ?? "?"}), ` +
        `${pin ? `service on CPU ${serviceCpu}, clients on CPU ${loadCpus}` : "unpinned"}, ` +
        `loadavg ${loadStart.join(" ")} -> ${loadEnd.join(" ")}; D1: ${process.env.SERVE_D1 || "lean"} (npm run serve)`,
    );
    if (seeded) console.log(`scale database: ${seeded.images} images, ${seeded.memberships} memberships`);
    if (requests) {
      console.log(
        `requests: wrk -t${opt.threads} -c${opt.connections} -d${DURATION}s x ${RUNS} runs interleaved\n${requests.text}\n`,
      );
    }
    if (data) console.log(`${data.text}\n`);
    mkdirSync(join(bench, "results"), { recursive: true });
    const file = join(
      bench,
      "results",
      `${startedAt.toISOString().replace(/[:.]/g, "-")}-${opt.scale ? "scale" : opt.part === "all" ? "bench" : opt.part}.json`,
    );
    writeFileSync(
      file,
      `${JSON.stringify(
        {
          date: startedAt.toISOString(),
          machine: { nproc, cpu: cpus()[0]?.model, loadavg_start: loadStart, loadavg_end: loadEnd },
          config: {
            duration_s: DURATION,
            runs: RUNS,
            connections: Number(opt.connections),
            threads: Number(opt.threads),
            mib: DATA_PART ? Number(opt.mib) : undefined,
            d1: process.env.SERVE_D1 || "lean",
            glance: GLANCE,
            pinned: pin ? { service_cpu: serviceCpu, client_cpus: loadCpus } : null,
          },
          scale: seeded,
          requests: requests && { summary: requests.summary, results: requests.results },
          data: data && { summary: data.summary, results: data.results },
        },
        null,
        2,
      )}\n`,
    );
    console.log(`summary written to ${file}`);
  } finally {
    for (const server of servers) await stop(server);
    await stopAll();
    removeScratch();
  }
}

main().catch(async (err) => {
  if (interrupted) return; // the signal handler stops everything and exits
  console.error(`bench: ${err.stack ?? err}`);
  await stopAll();
  process.exit(1);
});
