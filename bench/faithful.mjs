#!/usr/bin/env node
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { freePort, sleep, startGroup, stopGroup, waitFor } from "./processes.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values: opt } = parseArgs({
  options: { keep: { type: "boolean", default: false }, "no-dev": { type: "boolean", default: false } },
});
const log = (line) => console.error(line);
// ---- processes: each in its own group, stopped on every way out (bench/processes.mjs) ----------
const scratch = mkdtempSync(join(tmpdir(), "glance-edge-faithful-"));
process.on("exit", () => {
  if (opt.keep) log(`faithful: kept ${scratch}`);
  else rmSync(scratch, { recursive: true, force: true });
});
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => process.exit(130));

async function start(name, args) {
  const port = await freePort();
  const logFile = join(scratch, `${name}.log`);
  const child = startGroup("npm", [...args, "--port", String(port)], logFile, root);
  const base = `http://127.0.0.1:${port}`;
  await waitFor(`${base}/versions`, 200, child, logFile);
  return { name, base, child };
}

async function stop(server) {
  await stopGroup(server.child);
  await sleep(300); // workerd children leave with the group; let the SQLite files settle
}

// ---- requests ---------------------------------------------------------------------------------------
const I1 = "11111111-1111-4111-8111-111111111111"; // shared, the members' image
const I2 = "22222222-2222-4222-8222-222222222222"; // private, the quota race
const I3 = "33333333-3333-4333-8333-333333333333"; // public: no members
const I4 = "44444444-4444-4444-8444-444444444444"; // proj-b's, invisible to proj-a
const I5 = "55555555-5555-4555-8555-555555555555"; // community
const MISSING = "99999999-9999-4999-8999-999999999999";

function identity(project, roles = "member,reader") {
  return {
    "X-Identity-Status": "Confirmed",
    "X-Project-Id": project,
    "X-User-Id": `u-${project}`,
    "X-Roles": roles,
  };
}
const A = identity("proj-a");
const B = identity("proj-b");
const C = identity("proj-c");
const E = identity("proj-e");
const ADMIN = identity("proj-admin", "admin,member,reader");
const JSON_TYPE = { "Content-Type": "application/json", Accept: "application/json" };
/**
 * Member ids whose name in the transcript depends on arrival order (which of n concurrent adds
 * the quota let in), by the server being talked to: each is recorded under a stable alias.
 */
let aliases = new Map();
const mask = (text) =>
  [...aliases]
    .reduce((t, [id, alias]) => t.replaceAll(`"${id}"`, `"${alias}"`), text)
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, "<time>")
    .replace(/http:\/\/127\.0\.0\.1:\d+/g, "<base>");

/** One request, recorded as what a client would compare: status, Content-Type, body. */
async function call(base, method, path, headers, body) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined)
    init.body = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
  const r = await fetch(`${base}${path}`, init);
  const buf = new Uint8Array(await r.arrayBuffer());
  const type = r.headers.get("content-type") ?? "";
  const text = type.startsWith("application/octet-stream")
    ? `<${buf.length} bytes, md5 ${r.headers.get("content-md5")}>`
    : mask(memberOrder(new TextDecoder().decode(buf)));
  return `${r.status} ${type}\n${text}`;
}

/**
 * A member list's order hangs on the second each row was added in (created_at, then member_id),
 * which two runs of the script need not share. So each server's order is checked against its own
 * timestamps, and the rows are compared sorted by member_id.
 */
function memberOrder(text) {
  let doc;
  try {
    doc = JSON.parse(text);
  } catch {
    return text;
  }
  if (!Array.isArray(doc?.members)) return text;
  const key = (m) => `${m.created_at}\u0000${m.member_id}`;
  const ordered = doc.members.every((m, i, all) => i === 0 || key(all[i - 1]) < key(m));
  doc.members.sort((x, y) => (x.member_id < y.member_id ? -1 : 1));
  return `${ordered ? "" : "NOT IN (created_at, member_id) ORDER: "}${JSON.stringify(doc)}`;
}

/** The scripted sequence: returns [label, recorded answer] pairs, concurrent ones sorted. */
async function script(base) {
  const out = [];
  const rec = async (label, ...args) => out.push([label, await call(base, ...args)]);
  /** n requests at once; their answers in sorted order, since arrival order is not deterministic. */
  const race = async (label, requests) => {
    const answers = await Promise.all(requests.map((args) => call(base, ...args)));
    out.push([label, answers.sort().join("\n---\n")]);
  };
  /**
   * As race, for adds of distinct members of which the quota lets some in: which ones is up to
   * arrival order, so the winners are named <winner-0>… (in member_id order) from here on.
   */
  const raceForPlaces = async (label, requests) => {
    const answers = await Promise.all(requests.map((args) => call(base, ...args)));
    const winners = answers
      .filter((a) => a.startsWith("200 "))
      .map((a) => JSON.parse(a.slice(a.indexOf("\n") + 1)).member_id)
      .sort();
    for (const [k, id] of winners.entries()) aliases.set(id, `<winner-${k}>`);
    out.push([label, answers.map(mask).sort().join("\n---\n")]);
  };
  const members = (id) => `/v2/images/${id}/members`;
  const img = (id, extra = {}) => ({ id, disk_format: "raw", container_format: "bare", ...extra });

  await rec("versions", "GET", "/versions", {});
  await rec("create I1 shared", "POST", "/v2/images", { ...A, ...JSON_TYPE }, img(I1, { name: "one" }));
  await rec(
    "create I2 private",
    "POST",
    "/v2/images",
    { ...A, ...JSON_TYPE },
    img(I2, { visibility: "private" }),
  );
  await rec(
    "create I3 public (admin)",
    "POST",
    "/v2/images",
    { ...ADMIN, ...JSON_TYPE },
    img(I3, { visibility: "public", owner: "proj-a" }),
  );
  await rec("create I4 by B", "POST", "/v2/images", { ...B, ...JSON_TYPE }, img(I4));
  await rec(
    "create I5 community",
    "POST",
    "/v2/images",
    { ...A, ...JSON_TYPE },
    img(I5, { visibility: "community" }),
  );
  await rec("create duplicate id", "POST", "/v2/images", { ...A, ...JSON_TYPE }, img(I1));

  // POST …/members
  await rec("add proj-b", "POST", members(I1), { ...A, ...JSON_TYPE }, { member_id: "proj-b" });
  await rec("add proj-b again", "POST", members(I1), { ...A, ...JSON_TYPE }, { member_id: "proj-b" });
  // Room for all under the quota: one 200, nine 409 from the UNIQUE constraint.
  await race(
    "10 concurrent adds of proj-d",
    Array.from({ length: 10 }, () => ["POST", members(I1), { ...A, ...JSON_TYPE }, { member_id: "proj-d" }]),
  );
  await rec("add proj-c (member key)", "POST", members(I1), { ...A, ...JSON_TYPE }, { member: "proj-c" });
  await rec("add over quota", "POST", members(I1), { ...A, ...JSON_TYPE }, { member_id: "proj-e" });
  await rec(
    "add over quota, text",
    "POST",
    members(I1),
    { ...A, "Content-Type": "application/json" },
    { member_id: "proj-e" },
  );
  await raceForPlaces(
    "8 concurrent distinct adds, quota 3",
    Array.from({ length: 8 }, (_, i) => [
      "POST",
      members(I2),
      { ...A, ...JSON_TYPE },
      { member_id: `proj-q${i}` },
    ]),
  );
  await rec("add empty body", "POST", members(I1), { ...A, ...JSON_TYPE }, {});
  await rec("add bad JSON", "POST", members(I1), { ...A, ...JSON_TYPE }, "{nope");
  await rec("add long id", "POST", members(I1), { ...A, ...JSON_TYPE }, { member_id: "x".repeat(256) });
  await rec("add number id", "POST", members(I1), { ...A, ...JSON_TYPE }, { member_id: 42 });
  await rec("add by non-owner", "POST", members(I1), { ...B, ...JSON_TYPE }, { member_id: "proj-x" });
  await rec("add to public", "POST", members(I3), { ...A, ...JSON_TYPE }, { member_id: "proj-x" });
  await rec("add to community", "POST", members(I5), { ...A, ...JSON_TYPE }, { member_id: "proj-x" });
  await rec("add to missing", "POST", members(MISSING), { ...A, ...JSON_TYPE }, { member_id: "proj-x" });
  await rec("add to invisible", "POST", members(I4), { ...A, ...JSON_TYPE }, { member_id: "proj-x" });
  await rec(
    "add bad image id",
    "POST",
    members("not-a-uuid"),
    { ...A, ...JSON_TYPE },
    { member_id: "proj-x" },
  );
  await rec("add no identity", "POST", members(I1), JSON_TYPE, { member_id: "proj-x" });

  // GET …/members
  for (const [who, h] of [
    ["A", A],
    ["B", B],
    ["C", C],
    ["E", E],
    ["admin", ADMIN],
  ]) {
    await rec(`list I1 as ${who}`, "GET", members(I1), { ...h, ...JSON_TYPE });
  }
  await rec("list I2 as A", "GET", members(I2), { ...A, ...JSON_TYPE });
  await rec("list public", "GET", members(I3), { ...A, ...JSON_TYPE });
  await rec("list missing, text", "GET", members(MISSING), A);
  await rec("list method not allowed", "PATCH", members(I1), { ...A, ...JSON_TYPE }, {});

  // GET …/members/{member_id}
  await rec("show proj-b as B", "GET", `${members(I1)}/proj-b`, { ...B, ...JSON_TYPE });
  await rec("show proj-b as A", "GET", `${members(I1)}/proj-b`, { ...A, ...JSON_TYPE });
  await rec("show proj-b as C", "GET", `${members(I1)}/proj-b`, { ...C, ...JSON_TYPE });
  await rec("show absent member", "GET", `${members(I1)}/proj-zz`, { ...A, ...JSON_TYPE });
  await rec("show on public", "GET", `${members(I3)}/proj-b`, { ...A, ...JSON_TYPE });
  await rec("show as outsider", "GET", `${members(I1)}/proj-b`, { ...E, ...JSON_TYPE });

  // PUT …/members/{member_id}
  await rec("accept as B", "PUT", `${members(I1)}/proj-b`, { ...B, ...JSON_TYPE }, { status: "accepted" });
  await rec("reject as C", "PUT", `${members(I1)}/proj-c`, { ...C, ...JSON_TYPE }, { status: "rejected" });
  await rec("bogus status", "PUT", `${members(I1)}/proj-b`, { ...B, ...JSON_TYPE }, { status: "bogus" });
  await rec("no status", "PUT", `${members(I1)}/proj-b`, { ...B, ...JSON_TYPE }, {});
  await rec(
    "update as owner",
    "PUT",
    `${members(I1)}/proj-b`,
    { ...A, ...JSON_TYPE },
    { status: "accepted" },
  );
  await rec("update other's", "PUT", `${members(I1)}/proj-b`, { ...C, ...JSON_TYPE }, { status: "accepted" });
  await rec(
    "update absent",
    "PUT",
    `${members(I1)}/proj-zz`,
    { ...ADMIN, ...JSON_TYPE },
    { status: "accepted" },
  );
  await rec(
    "update on missing image",
    "PUT",
    `${members(MISSING)}/proj-b`,
    { ...B, ...JSON_TYPE },
    { status: "accepted" },
  );
  await rec("show after accept", "GET", `${members(I1)}/proj-b`, { ...B, ...JSON_TYPE });

  // The image list: what members see, filters, markers.
  await rec("images as B", "GET", "/v2/images", { ...B, ...JSON_TYPE });
  await rec("images as C pending", "GET", "/v2/images?member_status=pending", { ...C, ...JSON_TYPE });
  await rec("images as C rejected", "GET", "/v2/images?member_status=rejected", { ...C, ...JSON_TYPE });
  await rec("images as A page 1", "GET", "/v2/images?limit=2", { ...A, ...JSON_TYPE });
  await rec("images as A page 2", "GET", `/v2/images?limit=2&marker=${I2}`, { ...A, ...JSON_TYPE });
  await rec("images as A page 3", "GET", `/v2/images?limit=2&marker=${I3}`, { ...A, ...JSON_TYPE });
  await rec("images bad marker", "GET", `/v2/images?marker=${MISSING}`, { ...A, ...JSON_TYPE });
  await rec("images shared filter", "GET", "/v2/images?visibility=shared", { ...A, ...JSON_TYPE });
  await rec("image show as B", "GET", `/v2/images/${I1}`, { ...B, ...JSON_TYPE });
  await rec("image show invisible", "GET", `/v2/images/${I4}`, { ...A, ...JSON_TYPE });

  // PATCH
  const patch = {
    ...A,
    Accept: "application/json",
    "Content-Type": "application/openstack-images-v2.1-json-patch",
  };
  await rec("patch name", "PATCH", `/v2/images/${I1}`, patch, [
    { op: "replace", path: "/name", value: "uno" },
  ]);
  await rec("patch bad visibility", "PATCH", `/v2/images/${I1}`, patch, [
    { op: "replace", path: "/visibility", value: "x" },
  ]);
  await rec("patch wrong type", "PATCH", `/v2/images/${I1}`, { ...A, ...JSON_TYPE }, []);

  // Image data.
  const data = new Uint8Array(300_000).map((_, i) => (i * 31 + 7) % 251);
  const octet = { ...A, "Content-Type": "application/octet-stream" };
  await rec(
    "upload by non-owner",
    "PUT",
    `/v2/images/${I1}/file`,
    { ...B, "Content-Type": "application/octet-stream" },
    data,
  );
  await rec("upload", "PUT", `/v2/images/${I1}/file`, octet, data);
  await rec("upload again", "PUT", `/v2/images/${I1}/file`, octet, data);
  await rec("download as owner", "GET", `/v2/images/${I1}/file`, A);
  await rec("download as member", "GET", `/v2/images/${I1}/file`, B);
  await rec("download no data", "GET", `/v2/images/${I2}/file`, { ...A, ...JSON_TYPE });
  await rec("image show after upload", "GET", `/v2/images/${I1}`, { ...A, ...JSON_TYPE });

  // DELETE …/members/{member_id}
  await rec("delete as member", "DELETE", `${members(I1)}/proj-c`, { ...B, ...JSON_TYPE });
  await rec("delete proj-c", "DELETE", `${members(I1)}/proj-c`, { ...A, ...JSON_TYPE });
  await rec("delete proj-c again", "DELETE", `${members(I1)}/proj-c`, { ...A, ...JSON_TYPE });
  await rec("delete on public", "DELETE", `${members(I3)}/proj-c`, { ...A, ...JSON_TYPE });
  await rec("C no longer sees I1", "GET", members(I1), { ...C, ...JSON_TYPE });
  await rec("re-add proj-c", "POST", members(I1), { ...A, ...JSON_TYPE }, { member_id: "proj-c" });
  await rec("list after re-add", "GET", members(I1), { ...A, ...JSON_TYPE });

  // Image delete: members go with it (ON DELETE CASCADE, which needs foreign_keys ON). Re-creating
  // the image under the same id must show no members, else rows outlived their image.
  await rec("delete I2 by B", "DELETE", `/v2/images/${I2}`, { ...B, ...JSON_TYPE });
  await rec("delete I1", "DELETE", `/v2/images/${I1}`, { ...A, ...JSON_TYPE });
  await rec("delete I1 again", "DELETE", `/v2/images/${I1}`, { ...A, ...JSON_TYPE });
  await rec("members of deleted", "GET", members(I1), { ...B, ...JSON_TYPE });
  await rec("data of deleted", "GET", `/v2/images/${I1}/file`, { ...A, ...JSON_TYPE });
  await rec("re-create I1", "POST", "/v2/images", { ...A, ...JSON_TYPE }, img(I1, { name: "again" }));
  await rec("re-created has no members", "GET", members(I1), { ...A, ...JSON_TYPE });
  await rec("re-created as B", "GET", members(I1), { ...B, ...JSON_TYPE });
  await rec("re-created has no data", "GET", `/v2/images/${I1}/file`, { ...A, ...JSON_TYPE });
  await rec("re-add proj-b", "POST", members(I1), { ...A, ...JSON_TYPE }, { member_id: "proj-b" });
  return out;
}

/** Reads of the final state, for the check that `npm start` sees what the lean server wrote. */
async function reads(base) {
  const out = [];
  const rec = async (label, ...args) => out.push([label, await call(base, ...args)]);
  // The re-created image's place in a list depends on the second it was created in: sort by id.
  const list = async (label, ...args) => {
    const [head, body] = (await call(base, ...args)).split("\n");
    const doc = JSON.parse(body);
    doc.images.sort((x, y) => x.id.localeCompare(y.id));
    out.push([label, `${head}\n${JSON.stringify(doc)}`]);
  };
  await list("images as A", "GET", "/v2/images", { ...A, ...JSON_TYPE });
  await list("images as B", "GET", "/v2/images?member_status=all", { ...B, ...JSON_TYPE });
  await rec("members of I1", "GET", `/v2/images/${I1}/members`, { ...A, ...JSON_TYPE });
  await rec("members of I2", "GET", `/v2/images/${I2}/members`, { ...A, ...JSON_TYPE });
  await rec("show proj-b of I1", "GET", `/v2/images/${I1}/members/proj-b`, { ...B, ...JSON_TYPE });
  await rec("image I5", "GET", `/v2/images/${I5}`, { ...A, ...JSON_TYPE });
  return out;
}

function compare(what, left, right, [ln, rn]) {
  let differences = 0;
  if (left.length !== right.length) {
    log(`faithful: ${what}: ${left.length} answers from ${ln}, ${right.length} from ${rn}`);
    differences++;
  }
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const [label, a] = left[i];
    const [, b] = right[i];
    if (a !== b) {
      differences++;
      log(
        `faithful: ${what}: DIFFERENT at "${label}"\n  ${ln}: ${a.replace(/\n/g, "\n    ")}\n  ${rn}: ${b.replace(/\n/g, "\n    ")}`,
      );
    }
  }
  return differences;
}

// ---- main ---------------------------------------------------------------------------------------------
const dist = join(scratch, "dist");
const serve = (d1, build) => [
  "run",
  "--silent",
  "serve",
  "--",
  "--d1",
  d1,
  "--persist-to",
  join(scratch, d1),
  "--outdir",
  dist,
  ...(build ? [] : ["--no-build"]),
  "--var",
  "IMAGE_MEMBER_QUOTA:3",
];

let failures = 0;
let compared = 0; // answers compared, each one check of the closing summary line
const transcripts = {};
const finals = {};
const aliasesOf = {};
for (const [i, d1] of ["lean", "miniflare"].entries()) {
  aliases = aliasesOf[d1] = new Map();
  const server = await start(`serve-${d1}`, serve(d1, i === 0));
  log(`faithful: ${d1} D1 up on ${server.base}`);
  transcripts[d1] = await script(server.base);
  finals[d1] = await reads(server.base);
  await stop(server);
}
const steps = transcripts.lean.length;
failures += compare("lean vs miniflare", transcripts.lean, transcripts.miniflare, ["lean", "miniflare"]);
failures += compare("final state", finals.lean, finals.miniflare, ["lean", "miniflare"]);
compared += Math.max(transcripts.lean.length, transcripts.miniflare.length);
compared += Math.max(finals.lean.length, finals.miniflare.length);
log(
  `faithful: ${steps} scripted steps + ${finals.lean.length} reads, ${failures} difference(s) lean vs miniflare`,
);

if (!opt["no-dev"]) {
  const dev = await start("npm-start", [
    "start",
    "--",
    "--persist-to",
    join(scratch, "lean"),
    "--var",
    "IMAGE_MEMBER_QUOTA:3",
  ]);
  log(`faithful: npm start (wrangler dev) up on ${dev.base}, lean server's persist dir`);
  aliases = aliasesOf.lean;
  const seen = await reads(dev.base);
  await stop(dev);
  const d = compare("wrangler dev after lean", finals.lean, seen, ["lean serve", "wrangler dev"]);
  log(`faithful: wrangler dev read the lean server's data: ${d === 0 ? "identical" : `${d} difference(s)`}`);
  failures += d;
  compared += Math.max(finals.lean.length, seen.length);
}
if (process.env.FAITHFUL_PRINT) for (const [label, answer] of transcripts.lean) log(`## ${label}\n${answer}`);
log(failures === 0 ? "faithful: OK, identical" : `faithful: FAILED, ${failures} difference(s)`);
// One line in the form of the other suites' summaries, for .ci/run's closing line.
console.log(`faithful: ${Math.max(0, compared - failures)} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
