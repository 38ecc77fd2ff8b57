#!/usr/bin/env node
// Differential replay: the same scripted requests against OpenStack Glance 25 (Debian's glance-api)
// and glance-edge (`npm run serve`), both on 127.0.0.1 with trusted identity headers and fresh
// databases, compared request by request. Prints every difference grouped by cause, writes JSON
// to test/replay/results/, and exits 1 if any difference is not one of docs/reference.md §10's deliberate ones
// (lib/allowlist.mjs), 2 if the replay itself could not run.
//
//   node test/replay/run.mjs [--mode legacy|secure-rbac|both] [--keep]
//     legacy       glance-edge POLICY_DEFAULTS=legacy      ↔ Glance with RBAC off
//     secure-rbac  glance-edge POLICY_DEFAULTS=secure-rbac ↔ Glance with enforce_new_defaults and
//                  enforce_secure_rbac
//     --keep       keep the services' state directories (databases, logs) and print where
//     --edge-ref R glance-edge as committed at git ref R (a `git archive` snapshot sharing
//                  node_modules), e.g. HEAD while the working tree is mid-edit; default: the
//                  working tree as it is
//   Env: REPLAY_GLANCE_PORT (default 9292, another free port if taken), REPLAY_EDGE_PORT (8799),
//        REPLAY_CONCURRENCY (4: cases in flight at once).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ASPECT_ALLOWS, CASE_ALLOWS } from "./lib/allowlist.mjs";
import { cleanMessage, compareAnswers, readAnswer, shortAnswer, template } from "./lib/compare.mjs";
import { closeAgents, exchange } from "./lib/http.mjs";
import {
  acceptFor,
  B,
  CALLERS,
  CREATE_VARIANTS,
  deactivatedReadOps,
  E,
  FIXTURES,
  identityHeaders,
  imageBody,
  imageData,
  isHybrid,
  JSON_TYPE,
  LIST_QUERIES,
  OCTET,
  readOps,
  SETUP,
  uuidFor,
  writeOps,
} from "./lib/scenario.mjs";
import {
  freePort,
  portFree,
  root,
  snapshot,
  startEdge,
  startGlance,
  stopAll,
  stopGroup,
} from "./lib/services.mjs";

const here = join(root, "test", "replay");
const t0 = Date.now();
const log = (msg) => console.log(`[replay ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${msg}`);

let opts;
try {
  opts = parseArgs({
    options: {
      mode: { type: "string", default: "both" },
      keep: { type: "boolean", default: false },
      "edge-ref": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  }).values;
} catch (err) {
  console.error(`replay: ${err.message}`);
  process.exit(2);
}
if (opts.help || !["legacy", "secure-rbac", "both"].includes(opts.mode)) {
  console.error("usage: node test/replay/run.mjs [--mode legacy|secure-rbac|both] [--keep] [--edge-ref REF]");
  process.exit(opts.help ? 0 : 2);
}
const modes = opts.mode === "both" ? ["legacy", "secure-rbac"] : [opts.mode];
const concurrency = Math.max(1, Number(process.env.REPLAY_CONCURRENCY ?? 4));

const scratch = mkdtempSync(join(tmpdir(), "glance-edge-replay-"));
const edgeSource = { dir: root, rev: "working tree" };
const running = new Set();
let interrupted = false;
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, async () => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: stopping both services`);
    closeAgents();
    await stopAll();
    if (!opts.keep) rmSync(scratch, { recursive: true, force: true });
    process.exit(130);
  });
}

// ---- small helpers -----------------------------------------------------------------------------
async function mapLimit(items, limit, fn) {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length && !interrupted) {
      const i = next++;
      await fn(items[i], i);
    }
  });
  await Promise.all(workers);
}

function headersFor(who, { accept, type, extra } = {}) {
  const h = identityHeaders(who);
  if (accept) h.Accept = accept;
  if (type) h["Content-Type"] = type;
  return { ...h, ...extra };
}

const encode = (body, type) =>
  body === undefined ? undefined : type === OCTET || Buffer.isBuffer(body) ? body : JSON.stringify(body);

// ---- one mode ----------------------------------------------------------------------------------
async function runMode(mode, edgeBuild) {
  const modeT0 = Date.now();
  const dir = join(scratch, mode);
  mkdirSync(dir, { recursive: true });
  const rbac = mode === "secure-rbac";
  const wantedGlancePort = Number(process.env.REPLAY_GLANCE_PORT ?? 9292);
  const glancePort = (await portFree(wantedGlancePort)) ? wantedGlancePort : await freePort();
  const edgePort = Number(process.env.REPLAY_EDGE_PORT ?? 8799);
  if (!(await portFree(edgePort))) throw new Error(`port ${edgePort} is taken; set REPLAY_EDGE_PORT`);

  log(
    `${mode}: starting Glance (RBAC ${rbac ? "on" : "off"}) on ${glancePort} and glance-edge on ${edgePort}`,
  );
  const [glanceR, edgeR] = await Promise.allSettled([
    startGlance({ dir: join(dir, "glance"), port: glancePort, rbac, log }).then((s) => {
      running.add(s);
      return s;
    }),
    startEdge({
      dir: join(dir, "edge"),
      outdir: join(scratch, "dist"),
      port: edgePort,
      policy: mode,
      build: edgeBuild,
      cwd: edgeSource.dir,
      log,
    }).then((s) => {
      running.add(s);
      return s;
    }),
  ]);
  if (glanceR.status === "rejected") throw glanceR.reason;
  if (edgeR.status === "rejected") throw edgeR.reason;
  const glance = glanceR.value;
  const edge = edgeR.value;
  log(`${mode}: Glance ${glance.version} at ${glance.base}, glance-edge at ${edge.base}`);
  const startupSeconds = (Date.now() - modeT0) / 1000;

  const results = new Map(); // key → result (for the allow-list's twin lookups)
  const all = [];
  const setupDiffs = [];
  const names = new Map(); // image id → fixture label, for reports
  let requests = 0;
  const busy = { glance: 0, edge: 0 }; // summed response times, ms

  /** The same request to both; returns both raw responses. */
  async function both(req, glanceReq = req) {
    requests += 2;
    const [g, e] = await Promise.all([exchange(glance.base, glanceReq), exchange(edge.base, req)]);
    busy.glance += g.ms;
    busy.edge += e.ms;
    return { g, e };
  }

  /** A set-up request: must succeed on Glance; any difference is recorded (a setup difference). */
  async function setup(label, who, method, path, body, type, glanceBody = body) {
    const req = {
      method,
      path,
      headers: headersFor(who, { accept: JSON_TYPE, type }),
      body: encode(body, type),
    };
    const { g, e } = await both(req, { ...req, body: encode(glanceBody, type) });
    const ga = readAnswer(g);
    const ea = readAnswer(e);
    if (g.status >= 300) {
      throw new Error(
        `set-up step on Glance failed: ${label}: ${method} ${path} as ${who.name} → ${shortAnswer(ga)}`,
      );
    }
    const aspects = compareAnswers(ga, ea, "setup");
    if (ga.status !== ea.status) {
      setupDiffs.push({
        label,
        caller: who.name,
        request: `${method} ${path}`,
        glance: shortAnswer(ga),
        edge: shortAnswer(ea),
        aspects,
      });
    }
  }

  // ---- fixtures: a pool per fixture × variant, a clean image on demand ----
  const pools = new Map();
  function pool(fixture, variant) {
    const key = `${fixture}.${variant}`;
    let p = pools.get(key);
    if (!p) {
      p = { key, fixture, variant, n: 0, current: null, creating: null };
      pools.set(key, p);
    }
    return p;
  }
  async function cleanImage(p) {
    if (p.current) return p.current;
    const name = `${p.key}.${p.n++}`;
    const id = uuidFor(name);
    names.set(id, name);
    const f = FIXTURES[p.fixture];
    const owner = f.visibility === "public" ? SETUP.ownerAdmin : SETUP.owner;
    await setup(
      `${name}: create`,
      owner,
      "POST",
      "/v2/images",
      imageBody(id, name, f.visibility),
      JSON_TYPE,
      imageBody(id, name, f.glanceVisibility ?? f.visibility),
    );
    if (p.variant !== "queued") {
      await setup(`${name}: upload`, SETUP.owner, "PUT", `/v2/images/${id}/file`, imageData(name), OCTET);
    }
    if (f.e) {
      await setup(
        `${name}: add E`,
        SETUP.owner,
        "POST",
        `/v2/images/${id}/members`,
        { member: E },
        JSON_TYPE,
      );
    }
    if (f.b) {
      await setup(
        `${name}: add B`,
        SETUP.owner,
        "POST",
        `/v2/images/${id}/members`,
        { member: B },
        JSON_TYPE,
      );
      if (f.b !== "pending") {
        await setup(
          `${name}: B ${f.b}`,
          SETUP.b,
          "PUT",
          `/v2/images/${id}/members/${B}`,
          { status: f.b },
          JSON_TYPE,
        );
      }
    }
    if (p.variant === "deactivated") {
      await setup(`${name}: deactivate`, SETUP.ownerAdmin, "POST", `/v2/images/${id}/actions/deactivate`);
    }
    p.current = id;
    return id;
  }

  // ---- cases ----
  async function runCase(c) {
    const accept = c.accept === undefined ? acceptFor(`${mode}:${c.name}`) : c.accept;
    const headers = headersFor(c.who, { accept, type: c.type, extra: c.headers });
    const req = { method: c.method, path: c.path, headers, body: encode(c.body, c.type) };
    const { g, e } = await both(req);
    const ga = readAnswer(g);
    const ea = readAnswer(e);
    const aspects = compareAnswers(ga, ea, c.kind);
    const r = {
      name: c.name,
      phase: c.phase,
      op: c.op,
      caller: c.who.name,
      fixture: c.fixture ?? null,
      image: c.image ?? null,
      tags: c.tags ?? [],
      request: {
        method: c.method,
        path: c.path,
        accept: accept ?? "(none)",
        body: c.type === OCTET ? `(${req.body.length} bytes)` : c.body,
        headers: c.headers,
      },
      glance: ga,
      edge: ea,
      aspects,
    };
    results.set(`${c.op}|${c.who.name}|${c.fixture ?? "-"}`, r);
    all.push(r);
    return r;
  }

  // 1. Reads on the active and deactivated image of each fixture (hybrids after the lists).
  const fixtureNames = Object.keys(FIXTURES);
  const kindOf = (op) =>
    op === "members.list"
      ? "member-list"
      : op.startsWith("members.")
        ? "member"
        : op.startsWith("image.download")
          ? "data"
          : "image";
  async function readPhase(fixtures) {
    await mapLimit(fixtures, concurrency, async (f) => {
      await cleanImage(pool(f, "active"));
      await cleanImage(pool(f, "deactivated"));
    });
    const reads = [];
    for (const f of fixtures) {
      const active = pool(f, "active").current;
      const deact = pool(f, "deactivated").current;
      for (const who of CALLERS) {
        for (const o of readOps(who)) reads.push({ ...o, who, fixture: f, image: active });
        for (const o of deactivatedReadOps) reads.push({ ...o, who, fixture: f, image: deact });
      }
    }
    await mapLimit(reads, concurrency, (o) =>
      runCase({
        ...o,
        phase: "read",
        name: `${o.op} ${o.who.name}@${o.fixture}`,
        path: o.path(o.image),
        kind: kindOf(o.op),
      }),
    );
  }
  log(`${mode}: fixtures and reads`);
  await readPhase(fixtureNames.filter((f) => !isHybrid(f)));

  // 2. Image lists, before anything else changes the set of images.
  log(`${mode}: lists`);
  const lists = [];
  for (const who of CALLERS) for (const q of LIST_QUERIES) lists.push({ who, q });
  await mapLimit(lists, concurrency, ({ who, q }) =>
    runCase({
      op: `images.list${q}`,
      phase: "list",
      name: `GET /v2/images${q} ${who.name}`,
      who,
      method: "GET",
      path: `/v2/images${q}`,
      kind: "image-list",
    }),
  );

  // 3. POST /v2/images, every caller × visibility/owner.
  log(`${mode}: creates`);
  const creates = [];
  for (const who of CALLERS) for (const v of CREATE_VARIANTS) creates.push({ who, v });
  await mapLimit(creates, concurrency, ({ who, v }) => {
    const name = `${v.op}.${who.name}`;
    const id = uuidFor(name);
    names.set(id, name);
    return runCase({
      op: v.op,
      phase: "create",
      name,
      who,
      image: id,
      method: "POST",
      path: "/v2/images",
      type: JSON_TYPE,
      body: imageBody(id, name, null, v.extra),
      kind: "image",
    });
  });

  // 4. The hybrid fixtures (private on glance-edge, shared on Glance), read.
  log(`${mode}: hybrid fixtures (private on glance-edge, shared on Glance) and reads`);
  await readPhase(fixtureNames.filter(isHybrid));

  // 5. Writes: per fixture × variant, one lane; a clean image for each case, spent on any 2xx.
  log(`${mode}: writes`);
  const lanes = new Map();
  for (const f of fixtureNames) {
    for (const o of writeOps(FIXTURES[f])) {
      const key = `${f}.${o.variant}`;
      if (!lanes.has(key)) lanes.set(key, []);
      for (const who of CALLERS) lanes.get(key).push({ ...o, who, fixture: f });
    }
  }
  await mapLimit([...lanes.entries()], concurrency, async ([key, cases]) => {
    const [f, variant] = key.split(".");
    const p = pool(f, variant);
    for (const o of cases) {
      if (interrupted) return;
      const image = await cleanImage(p);
      const r = await runCase({
        ...o,
        phase: "write",
        name: `${o.op} ${o.who.name}@${f}`,
        image,
        path: `/v2/images/${image}${o.sub ?? ""}`,
        body: o.data ? imageData(`${key}.upload`) : o.body,
        kind: o.op.startsWith("members.") ? "member" : "image",
      });
      if (
        (r.glance.status >= 200 && r.glance.status < 300) ||
        (r.edge.status >= 200 && r.edge.status < 300)
      ) {
        p.current = null;
      }
    }
  });

  // 6. The deliberate differences of docs/reference.md §10 that a request can show, so that the allow-list is
  //    checked against what both services really answer.
  log(`${mode}: deliberate differences`);
  const bare = pool("shared-bare", "active");
  const owner = CALLERS.find((c) => c.name === "A_member");
  const deliberate = [
    {
      op: "deliberate.member_id-key",
      tags: ["member_id-key"],
      method: "POST",
      body: { member_id: "proj-g" },
    },
    { op: "deliberate.numeric-member", tags: ["non-string-member"], method: "POST", body: { member: 12345 } },
    {
      op: "deliberate.bad-request-id",
      tags: ["bad-request-id"],
      method: "GET",
      headers: { "X-Openstack-Request-Id": `req-${"x".repeat(70)}` },
    },
  ];
  for (const d of deliberate) {
    const image = await cleanImage(bare);
    const isMember = d.method === "POST";
    const r = await runCase({
      ...d,
      phase: "deliberate",
      name: `${d.op} A_member@shared-bare`,
      who: owner,
      fixture: "shared-bare",
      image,
      path: isMember ? `/v2/images/${image}/members` : `/v2/images/${image}`,
      type: isMember ? JSON_TYPE : undefined,
      accept: JSON_TYPE,
      kind: isMember ? "member" : "image",
    });
    if (r.glance.status < 300 || r.edge.status < 300) bare.current = null;
  }

  const runSeconds = (Date.now() - modeT0) / 1000 - startupSeconds;
  await Promise.all([stopGroup(glance.child), stopGroup(edge.child)]);
  running.delete(glance);
  running.delete(edge);
  return judge(mode, {
    all,
    results,
    setupDiffs,
    names,
    requests,
    busy,
    startupSeconds,
    runSeconds,
    glance,
    edge,
    dir,
  });
}

// ---- judging and reporting -------------------------------------------------------------------------
function judge(mode, ctx) {
  const { all, results, setupDiffs, names } = ctx;
  const differences = [];
  const allowed = [];
  for (const r of all) {
    if (r.aspects.length === 0) continue;
    const remaining = [];
    const aspectAllowed = new Set();
    for (const a of r.aspects) {
      const entry = ASPECT_ALLOWS.find((x) => x.match(a, r));
      if (entry) aspectAllowed.add(entry.id);
      else remaining.push(a);
    }
    r.allowedAspects = [...aspectAllowed];
    if (remaining.length === 0) {
      allowed.push({ r, by: [...aspectAllowed] });
      continue;
    }
    const entry = CASE_ALLOWS.find((x) => x.match(r, results));
    if (entry) {
      allowed.push({ r, by: [entry.id, ...aspectAllowed] });
      continue;
    }
    r.remaining = remaining;
    differences.push(r);
  }

  // One cause, one group: same operation, same answers with ids replaced, same aspects.
  const idLabel = (id) => names.get(id) ?? id;
  const tplMsg = (s) => template(s, new Map()).replaceAll("{id}", "{image_id}");
  const sig = (a) => (a.status >= 400 ? `${a.status} '${tplMsg(a.message)}'` : `${a.status}`);
  const groups = new Map();
  for (const r of differences) {
    const detail = r.remaining
      .filter((a) => !a.startsWith("status:") && !a.startsWith("message:"))
      .map((a) =>
        a.startsWith("images only")
          ? a.replace(/\S{36}/g, (id) => idLabel(id))
          : a.startsWith("$")
            ? tplMsg(a).replace(/\b\d+\b/g, "N")
            : tplMsg(a),
      );
    const key = `${r.op} :: glance ${sig(r.glance)} :: edge ${sig(r.edge)} :: ${detail.join(" ; ")}`;
    let g = groups.get(key);
    if (!g) {
      g = {
        op: r.op,
        request: `${r.request.method} ${tplMsg(r.request.path)}`,
        glance: sig(r.glance),
        edge: sig(r.edge),
        detail,
        example: {
          case: r.name,
          accept: r.request.accept,
          glance: shortAnswer(r.glance, 400),
          edge: shortAnswer(r.edge, 400),
          // Glance's words as sent (JSON "message" or the plain-text body after the status line).
          glanceRaw: r.glance.rawMessage,
        },
        cases: [],
      };
      groups.set(key, g);
    }
    g.cases.push({ caller: r.caller, fixture: r.fixture });
  }
  for (const g of groups.values()) g.where = compressCases(g.cases);
  const ordered = [...groups.values()].sort((a, b) => (a.op < b.op ? -1 : a.op > b.op ? 1 : 0));

  const setupGroups = new Map();
  for (const s of setupDiffs) {
    const key = `${s.label.replace(/^[^:]*: /, "")} :: ${tplMsg(s.glance)} :: ${tplMsg(s.edge)}`;
    if (!setupGroups.has(key))
      setupGroups.set(key, { ...s, step: s.label.replace(/^[^:]*: /, ""), count: 0 });
    setupGroups.get(key).count++;
  }

  const allowedCount = {};
  for (const { by } of allowed) for (const id of by) allowedCount[id] = (allowedCount[id] ?? 0) + 1;
  return {
    mode,
    cases: all.length,
    requests: ctx.requests,
    startupSeconds: ctx.startupSeconds,
    runSeconds: ctx.runSeconds,
    responseSeconds: { glance: ctx.busy.glance / 1000, edge: ctx.busy.edge / 1000 },
    glance: { version: ctx.glance.version, base: ctx.glance.base, rbac: mode === "secure-rbac" },
    edge: { base: ctx.edge.base, policyDefaults: mode, source: edgeSource.rev },
    stateDir: ctx.dir,
    differences: differences.length,
    allowedDifferences: allowed.length,
    allowedBy: allowedCount,
    setupDifferences: setupDiffs.length,
    groups: ordered,
    setupGroups: [...setupGroups.values()],
    allowed: allowed.map(({ r, by }) => ({ case: r.name, by, aspects: r.aspects })),
    results: all.map((r) => ({
      case: r.name,
      phase: r.phase,
      op: r.op,
      caller: r.caller,
      fixture: r.fixture,
      image: r.image,
      request: r.request,
      glance: slim(r.glance),
      edge: slim(r.edge),
      aspects: r.aspects,
      verdict: r.aspects.length === 0 ? "same" : r.remaining ? "DIFFERENT" : "allowed",
    })),
  };
}

/** `{A_admin A_member} @ {shared-bare private}; …`: callers with the same fixtures together. */
function compressCases(cases) {
  const byCaller = new Map();
  for (const { caller, fixture } of cases) {
    if (!byCaller.has(caller)) byCaller.set(caller, []);
    if (fixture) byCaller.get(caller).push(fixture);
  }
  const byFixtures = new Map();
  for (const [caller, fixtures] of byCaller) {
    const key = [...new Set(fixtures)].join(" ");
    if (!byFixtures.has(key)) byFixtures.set(key, []);
    byFixtures.get(key).push(caller);
  }
  return [...byFixtures]
    .map(([fixtures, callers]) =>
      fixtures ? `{${callers.join(" ")}} @ {${fixtures}}` : `{${callers.join(" ")}}`,
    )
    .join("; ");
}

function slim(a) {
  const { bytes: _b, text, ...rest } = a;
  if (text !== undefined) rest.text = text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
  return rest;
}

function printReport(rep) {
  const lines = [];
  const p = (s = "") => lines.push(s);
  p(
    `==== replay ${rep.mode}: Glance ${rep.glance.version} (RBAC ${rep.glance.rbac ? "on" : "off"}) vs glance-edge ${rep.edge.source} (POLICY_DEFAULTS=${rep.mode})`,
  );
  p(
    `${rep.cases} cases, ${rep.requests} requests, start-up ${rep.startupSeconds.toFixed(1)} s, replay ${rep.runSeconds.toFixed(1)} s ` +
      `(summed response times: Glance ${rep.responseSeconds.glance.toFixed(1)} s, glance-edge ${rep.responseSeconds.edge.toFixed(1)} s)`,
  );
  p(
    `differences: ${rep.differences} not allowed, ${rep.allowedDifferences} allowed (${Object.entries(
      rep.allowedBy,
    )
      .map(([k, v]) => `${k}: ${v}`)
      .join(", ")}), ${rep.setupDifferences} in set-up steps`,
  );
  if (rep.setupGroups.length) {
    p();
    p("-- set-up steps answered differently (state may differ for the cases on those images):");
    for (const s of rep.setupGroups) {
      p(`  [${s.count}x] ${s.step}: ${s.request.replace(/[0-9a-f-]{36}/g, "{image_id}")}`);
      p(`        glance: ${s.glance}`);
      p(`        edge:   ${s.edge}`);
    }
  }
  p();
  p(`-- ${rep.groups.length} groups of differences (operation :: glance :: edge):`);
  for (const g of rep.groups) {
    p();
    p(`[${g.cases.length}x] ${g.op}  ${g.request}`);
    p(`    glance: ${g.glance}`);
    p(`    edge:   ${g.edge}`);
    for (const d of g.detail) p(`    · ${d}`);
    const raw = g.example.glanceRaw;
    // Shown when Glance's text has more inside than the words and the trailing residue (e.g. "\n\n ").
    if (raw !== undefined && cleanMessage(raw) !== raw.replace(/<br \/><br \/>/g, "").trim()) {
      p(`    glance raw (${g.example.accept}): ${JSON.stringify(raw)}`);
    }
    if (g.glance.length < 8 || g.edge.length < 8) {
      p(`    e.g. glance ${g.example.glance}`);
      p(`         edge   ${g.example.edge}`);
    }
    p(`    cases: ${g.where}`);
  }
  return lines.join("\n");
}

// ---- main ------------------------------------------------------------------------------------------
let exitCode = 0;
try {
  const outDir = join(here, "results");
  mkdirSync(outDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  if (opts["edge-ref"]) {
    edgeSource.dir = join(scratch, "edge-src");
    edgeSource.rev = snapshot(opts["edge-ref"], edgeSource.dir);
    log(`glance-edge from ${opts["edge-ref"]} (${edgeSource.rev}), snapshot in ${edgeSource.dir}`);
  }
  let build = true;
  const summaries = [];
  for (const mode of modes) {
    const rep = await runMode(mode, build);
    build = false;
    const text = printReport(rep);
    console.log(`\n${text}\n`);
    const source = edgeSource.rev.replace(/[^A-Za-z0-9]+/g, "-");
    writeFileSync(join(outDir, `${mode}-${stamp}-${source}.json`), `${JSON.stringify(rep, null, 2)}\n`);
    writeFileSync(join(outDir, `${mode}-${stamp}-${source}.txt`), `${text}\n`);
    writeFileSync(join(outDir, `${mode}-latest.json`), `${JSON.stringify(rep, null, 2)}\n`);
    writeFileSync(join(outDir, `${mode}-latest.txt`), `${text}\n`);
    summaries.push(
      `${mode}: ${rep.differences} differences not allowed (${rep.groups.length} causes), ${rep.allowedDifferences} allowed, ${rep.setupDifferences} set-up; replay ${rep.runSeconds.toFixed(0)} s + start-up ${rep.startupSeconds.toFixed(0)} s`,
    );
    if (rep.differences > 0 || rep.setupDifferences > 0) exitCode = 1;
  }
  log(`results in ${outDir}`);
  for (const s of summaries) log(s);
} catch (err) {
  // After a signal, requests in flight fail as the services go away: not worth a stack trace.
  if (!interrupted) console.error(`replay: ${err.stack ?? err}`);
  exitCode = interrupted ? 130 : 2;
} finally {
  closeAgents();
  for (const s of running) await stopGroup(s.child);
  await stopAll();
  if (opts.keep) log(`state kept in ${scratch}`);
  else rmSync(scratch, { recursive: true, force: true });
}
process.exit(exitCode);
