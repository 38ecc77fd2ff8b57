import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { SORT_KEYS } from "../../src/images/list";
import { scheduled } from "../../src/scheduled";
import {
  addMember,
  bodyText,
  type CallOptions,
  call,
  createImage,
  JSON_PATCH,
  project,
  type Who,
} from "../helpers";
import { countingDb, isContext, type Statement } from "./counting-db";

/**
 * Issue 5 item 4 (tests): every statement the stores issue during a run of all routes is put
 * through `EXPLAIN QUERY PLAN`, with the binds it ran with, against the migrated schema; a full
 * scan of `images` or `image_members` fails the test.
 *
 * SQLite reports one row per plan step, (id, parent, notused, detail), `parent` nesting steps
 * under subqueries and OR branches; `detail` reads e.g. `SEARCH i USING INDEX images_by_owner
 * (owner=?)`, `SCAN i`, `SCAN i USING INDEX images_by_created`, `SCAN t VIRTUAL TABLE INDEX 1:`,
 * `USE TEMP B-TREE FOR ORDER BY`, `USE TEMP B-TREE FOR LAST 2 TERMS OF ORDER BY`. Tables appear
 * under the alias the statement gives them.
 *
 * The rule, per plan row:
 * - `SEARCH ...` is a keyed lookup or range: fine.
 * - `SCAN x` where x is `images` or `image_members` (or an alias of either) is a full scan: fails.
 * - `SCAN x USING [COVERING] INDEX idx` walks a whole index. It is accepted only as the list's
 *   ordered walk: a top-level step (parent 0) of a statement that ends in `ORDER BY ... LIMIT ?`,
 *   whose plan has no `USE TEMP B-TREE FOR ... ORDER BY` at all. Then the index delivers rows in
 *   the requested order and SQLite stops after LIMIT matching rows instead of reading and sorting
 *   everything. Anywhere else (a subquery, no LIMIT, or a sort after it) it fails.
 * - `SCAN t VIRTUAL TABLE ...` is json_each over one image's `tags` array (at most 128 entries,
 *   per row already found), or over a request's own list (POST /v2/shares: at most 100 image
 *   ids and 100 member ids): not a table scan.
 * - `SCAN x` without an index, where x is `member_events`, is accepted on the same terms as an
 *   index walk when the statement's ORDER BY starts with x's INTEGER PRIMARY KEY (`id`, the
 *   rowid): the table itself is then the ordered index, walked newest first and left after LIMIT
 *   rows. SQLite prints that walk as a bare `SCAN e` all the same.
 */
interface PlanRow {
  id: number;
  parent: number;
  notused: number;
  detail: string;
}

const TABLES = new Set(["images", "image_members", "member_events"]);
/** Views over those tables (migrations/0005), which SQLite plans as the table they read. */
const VIEWS: Record<string, string> = { live_members: "image_members" };
/** Tables whose INTEGER PRIMARY KEY is the rowid, by that column: their bare SCAN is a key-order walk. */
const ROWID_KEYS: Record<string, string> = { member_events: "id" };
const NOT_ALIASES = new Set(
  "WHERE ON SET LEFT INNER CROSS JOIN ORDER GROUP LIMIT RETURNING USING".split(" "),
);

/** The names `images` and `image_members` go by in a statement: themselves and their aliases. */
function tableNames(sql: string): Map<string, string> {
  const names = new Map<string, string>([...TABLES].map((t) => [t, t]));
  for (const [view, table] of Object.entries(VIEWS)) names.set(view, table);
  for (const m of sql.matchAll(
    /\b(?:FROM|JOIN|UPDATE)\s+(images|image_members|live_members|member_events)\b(?:\s+(?:AS\s+)?(\w+))?/gi,
  )) {
    const [, table, alias] = m;
    const lower = table?.toLowerCase() ?? "";
    if (table && alias && !NOT_ALIASES.has(alias.toUpperCase())) names.set(alias, VIEWS[lower] ?? lower);
  }
  return names;
}

/** The plan rows that scan `images` or `image_members` against the rule above. */
function fullScans(sql: string, plan: PlanRow[]): string[] {
  const names = tableNames(sql);
  const orderedPage = /\bORDER BY\s+[^()]+?\s+LIMIT\s+\S+\s*$/i.test(sql.trim());
  const sorts = plan.some((r) => /^USE TEMP B-TREE FOR .*ORDER BY$/.test(r.detail));
  const bad: string[] = [];
  for (const row of plan) {
    const m = /^SCAN (\S+)(.*)$/.exec(row.detail);
    if (!m) continue;
    const [, name = "", rest = ""] = m;
    if (/VIRTUAL TABLE/.test(rest)) continue;
    if (!names.has(name)) continue;
    const indexWalk =
      /^ USING (COVERING )?INDEX \S+/.test(rest) || (rest === "" && keyOrdered(sql, name, names));
    if (indexWalk && orderedPage && !sorts && row.parent === 0) continue;
    bad.push(row.detail);
  }
  return bad;
}

/** The statement's final ORDER BY starts with the rowid key of the table `name` stands for. */
function keyOrdered(sql: string, name: string, names: Map<string, string>): boolean {
  const key = ROWID_KEYS[names.get(name) ?? ""];
  if (key === undefined) return false;
  const order = /\bORDER BY\s+([^()]+?)\s+LIMIT\s+\S+\s*$/i.exec(sql.trim())?.[1] ?? "";
  const first = order.split(",")[0]?.trim().split(/\s+/)[0] ?? "";
  return first === `${name}.${key}` || first === key;
}

async function explain(s: Statement): Promise<PlanRow[]> {
  const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${s.sql}`)
    .bind(...s.params)
    .all<PlanRow>();
  return results;
}

/** Runs requests through the app on a recording binding and checks every distinct statement. */
class PlanRun {
  private readonly counting = countingDb(env.DB);

  async send(method: string, path: string, status: number, opts: CallOptions = {}): Promise<string> {
    const res = await call(method, path, { ...opts, vars: { ...opts.vars, DB: this.counting.db } });
    const text = await bodyText(res);
    // A run that fails early would check fewer statements than it claims to.
    expect(res.status, `${method} ${path}: ${text}`).toBe(status);
    return text;
  }

  /** The Cron Trigger's handler (docs/reference.md §12.1, §12.4) on the recording binding, at `at` (ms). */
  async purge(at: number): Promise<{ expired: number; records: number }> {
    const ctx = createExecutionContext();
    // The handler logs its report line; it is the value returned here, so it is checked as that.
    const info = vi.spyOn(console, "info").mockImplementation(() => {});
    try {
      const report = await scheduled(
        createScheduledController({ scheduledTime: at, cron: "*/5 * * * *" }),
        { ...env, DB: this.counting.db },
        ctx,
      );
      await waitOnExecutionContext(ctx);
      expect(info.mock.calls.map((c) => JSON.parse(String(c[0])))).toEqual([
        { level: "info", msg: "purge", cron: "*/5 * * * *", ...report },
      ]);
      return report;
    } finally {
      info.mockRestore();
    }
  }

  /** How many round trips so far: a mark for `since`. */
  mark(): number {
    return this.counting.trips.length;
  }

  /** The statements of the round trips after `mark`, repeats included. */
  since(mark: number): Statement[] {
    return this.counting.trips.slice(mark).flatMap((t) => t.statements);
  }

  statements(): Statement[] {
    const seen = new Map<string, Statement>();
    for (const trip of this.counting.trips) {
      for (const s of trip.statements) seen.set(JSON.stringify([s.sql, s.params]), s);
    }
    return [...seen.values()];
  }

  /** Every distinct statement's offending plan rows, with the statement, for the failure message. */
  async offenders(): Promise<{ sql: string; params: unknown[]; scans: string[]; plan: string[] }[]> {
    const out = [];
    // The audit context's own statements (one keyed row) have no plan worth the name.
    for (const s of this.statements().filter((s) => !isContext(s))) {
      const plan = await explain(s);
      expect(plan.length, `no plan for ${s.sql}`).toBeGreaterThan(0);
      const scans = fullScans(s.sql, plan);
      if (scans.length > 0) {
        out.push({
          sql: s.sql.replace(/\s+/g, " "),
          params: s.params,
          scans,
          plan: plan.map((r) => r.detail),
        });
      }
    }
    return out;
  }
}

const who = (p: string, roles = ["member", "reader"]): Who => ({ project: p, roles });
/** A statement's first three words, a conflict clause (`INSERT OR IGNORE`) left out. */
const kindOf = (sql: string) =>
  sql
    .trim()
    .replace(/^(INSERT|UPDATE)\s+OR\s+\w+\b/i, "$1")
    .split(/\s+/)
    .slice(0, 3)
    .join(" ");
const adminWho = () => who(project("admin"), ["admin", "member"]);
const json = <T>(text: string) => JSON.parse(text) as T;

describe("query plans: no full scan of images or image_members", () => {
  it("member routes: add, list, show, update, delete, on success and refusal", async () => {
    const run = new PlanRun();
    const [owner, member, other, stranger] = [
      project("owner"),
      project("member"),
      project("o"),
      project("s"),
    ];
    const id = await createImage(owner, { visibility: "shared" });
    await addMember(owner, id, other);
    const base = `/v2/images/${id}/members`;

    await run.send("POST", base, 200, { who: who(owner), body: { member_id: member } });
    await run.send("POST", base, 409, { who: who(owner), body: { member_id: member } });
    await run.send("POST", base, 403, { who: who(member), body: { member_id: project("m") } });
    await run.send("POST", base, 404, { who: who(stranger), body: { member_id: project("m") } });
    for (const caller of [who(owner), who(member), adminWho()]) {
      await run.send("GET", base, 200, { who: caller });
      await run.send("GET", `${base}/${member}`, 200, { who: caller });
    }
    await run.send("GET", base, 404, { who: who(stranger) });
    await run.send("GET", `${base}/${project("nobody")}`, 404, { who: who(owner) });
    await run.send("PUT", `${base}/${member}`, 200, { who: who(member), body: { status: "accepted" } });
    await run.send("PUT", `${base}/${member}`, 400, { who: who(member), body: { status: "bogus" } });
    await run.send("PUT", `${base}/${member}`, 403, { who: who(owner), body: { status: "accepted" } });
    await run.send("DELETE", `${base}/${member}`, 204, { who: who(owner) });
    await run.send("DELETE", `${base}/${member}`, 404, { who: who(owner) });

    const kinds = run.statements().map((s) => kindOf(s.sql));
    expect(kinds).toEqual(
      expect.arrayContaining([
        "INSERT INTO image_members",
        "UPDATE image_members SET",
        "DELETE FROM image_members",
      ]),
    );
    expect(await run.offenders()).toEqual([]);
  });

  it("image routes: create, show, patch, upload, download, delete", async () => {
    const run = new PlanRun();
    const owner = project("owner");
    const created = await run.send("POST", "/v2/images", 201, {
      who: who(owner),
      body: { name: "plan", tags: ["a"], disk_format: "raw", container_format: "bare" },
    });
    const { id } = json<{ id: string }>(created);
    await run.send("GET", `/v2/images/${id}`, 200, { who: who(owner) });
    await run.send("GET", `/v2/images/${id}`, 404, { who: who(project("s")) });
    await run.send("PATCH", `/v2/images/${id}`, 200, {
      who: who(owner),
      raw: JSON.stringify([{ op: "replace", path: "/name", value: "renamed" }]),
      type: JSON_PATCH,
    });
    await run.send("PUT", `/v2/images/${id}/file`, 204, {
      who: who(owner),
      raw: new Uint8Array([1, 2, 3]),
      type: "application/octet-stream",
    });
    await run.send("GET", `/v2/images/${id}/file`, 200, { who: who(owner) });
    const guarded = await createImage(owner, { protected: true });
    await run.send("DELETE", `/v2/images/${guarded}`, 403, { who: who(owner) });
    await run.send("DELETE", `/v2/images/${id}`, 204, { who: who(owner) });

    const kinds = run.statements().map((s) => s.sql.trim().split(/\s+/).slice(0, 2).join(" "));
    expect(kinds).toEqual(expect.arrayContaining(["INSERT INTO", "UPDATE images", "DELETE FROM"]));
    expect(await run.offenders()).toEqual([]);
  });

  /**
   * Every filter, every sort key in both directions, and markers, as a non-admin (visibility
   * and membership folded into the WHERE) and as an admin (no such clause, so an unindexed
   * order would show as a scan). Not covered: sorts on several keys in different directions
   * (`sort=name:asc,size:desc`); an index walk serves the first key and SQLite sorts within its
   * groups, and no set of indexes serves every combination.
   */
  it("image list: filters, sort keys and markers, as a member and as an admin", async () => {
    const run = new PlanRun();
    const owner = project("owner");
    const marker = await createImage(owner, {
      visibility: "shared",
      name: "plan-name",
      tags: ["plan-a", "plan-b"],
    });
    const other = project("other");
    await addMember(other, await createImage(other, { visibility: "shared" }), owner);

    const queries = [
      "",
      "limit=1",
      ...["public", "private", "shared", "community", "all"].map((v) => `visibility=${v}`),
      ...["accepted", "pending", "rejected", "all"].map((s) => `member_status=${s}`),
      `owner=${owner}`,
      "name=plan-name",
      "status=queued",
      "tag=plan-a",
      "tag=plan-a&tag=plan-b",
      "os_hidden=true",
      "protected=true",
      "protected=false",
      "disk_format=raw&container_format=bare",
      "size_min=1&size_max=100",
      "os_distro=debian",
      ...SORT_KEYS.flatMap((k) => [
        `sort_key=${k}`,
        `sort_key=${k}&sort_dir=asc`,
        `sort=${k}:desc`,
        `sort=${k}:asc`,
      ]),
      `marker=${marker}`,
      `marker=${marker}&sort_key=name&sort_dir=asc`,
      `marker=${marker}&sort_key=size`,
      `marker=${marker}&visibility=all&owner=${owner}`,
    ];
    for (const caller of [who(owner), adminWho()]) {
      for (const q of queries) await run.send("GET", `/v2/images?${q}`, 200, { who: caller });
    }

    expect(run.statements().length).toBeGreaterThanOrEqual(queries.length);
    expect(await run.offenders()).toEqual([]);
    // About 150 requests and their plans: more than the default 5 s on a busy shared machine
    // (a limit, not an assertion).
  }, 60_000);
});

/** The plan rows below row `id`, at any depth. */
function below(plan: PlanRow[], id: number): PlanRow[] {
  const out: PlanRow[] = [];
  const parents = new Set([id]);
  for (const row of plan) {
    if (parents.has(row.parent)) {
      out.push(row);
      parents.add(row.id);
    }
  }
  return out;
}

/**
 * A non-admin's page of GET /v2/images is one statement of UNION ALL arms (src/images/store.ts
 * listImages), each a co-routine: the index each arm is driven by, in the arms' order, and
 * whether the arm sorts its rows itself (`USE TEMP B-TREE FOR ORDER BY` under the arm; the
 * merge's sort of each arm's at most LIMIT rows sits beside it, not under it).
 */
function arms(plan: PlanRow[]): { index: string; sorts: boolean; detail: string }[] {
  const coroutines = plan.filter((r) => /^CO-ROUTINE /.test(r.detail));
  // A statement of one arm (the owner filter leaves only one) is that arm, without a union.
  const groups = coroutines.length > 0 ? coroutines.map((arm) => below(plan, arm.id)) : [plan];
  return groups.map((rows) => {
    // The arm's own table: `i`, or the memberships it starts from; not the marker's row (`images`).
    const drive = rows.find((r) => /^(SEARCH|SCAN) (i|image_members) /.test(r.detail));
    return {
      index: /USING (?:COVERING )?INDEX (\S+)/.exec(drive?.detail ?? "")?.[1] ?? drive?.detail ?? "none",
      sorts: rows.some((r) => /^USE TEMP B-TREE FOR .*ORDER BY$/.test(r.detail)),
      detail: drive?.detail ?? "",
    };
  });
}

describe("query plans: a non-admin's image list reads each arm on its own index", () => {
  const PUBLIC = "images_by_visibility";
  const OWN = "images_by_owner";
  const COMMUNITY = "images_by_visibility";
  const MEMBER = "image_members_by_member";

  /** Sends the list query as `me` and reads its page statement's arms; `trace`: the whole plan. */
  async function listArms(run: PlanRun, me: string, q: string) {
    const sent = run.mark();
    await run.send("GET", `/v2/images?${q}`, 200, { who: who(me) });
    // The page, not the marker's check that may share its batch.
    const page = run.since(sent).find((s) => /\bORDER BY\b/.test(s.sql));
    expect(page, q).toBeDefined();
    const plan = await explain(page as Statement);
    // Either index on memberships that starts with member_id starts at the caller's.
    const got = arms(plan).map((a) => ({ ...a, index: a.index.startsWith(MEMBER) ? MEMBER : a.index }));
    return { arms: got, trace: `${q}: ${plan.map((r) => r.detail).join(" | ")}` };
  }

  /**
   * The default order (created_at desc, id desc) and created_at asc, with and without a marker,
   * for each visibility: the public, own and community arms walk their index in the page's
   * order and stop at LIMIT (no sort inside them); the member arm starts from the caller's
   * memberships and sorts them (it reads them all: the budget names them). Arms the visibility
   * or owner filter empties are not in the statement at all.
   */
  it("created_at either way: public, own and community arms walk their index in order, unsorted", async () => {
    const run = new PlanRun();
    const me = project("me");
    const other = project("other");
    const marker = await createImage(me, { visibility: "shared" });
    await createImage(me, { visibility: "community" });
    await createImage(other, { visibility: "public", owner: other }, ["admin"]);
    await createImage(other, { visibility: "community" });
    await addMember(other, await createImage(other, { visibility: "shared" }), me);

    const expected: [string, string[]][] = [
      ["", [PUBLIC, OWN, MEMBER]],
      ["member_status=all", [PUBLIC, OWN, MEMBER]],
      ["visibility=all", [PUBLIC, OWN, COMMUNITY, MEMBER]],
      ["visibility=public", [PUBLIC, OWN]],
      ["visibility=community", [OWN, COMMUNITY]],
      ["visibility=shared", [OWN, MEMBER]],
      ["visibility=private", [OWN, MEMBER]],
      ["tag=x&os_distro=debian&size_min=1&protected=false", [PUBLIC, OWN, MEMBER]],
      ["name=x&status=active&disk_format=raw&min_ram=0", [PUBLIC, OWN, MEMBER]],
      // The owner filter leaves the caller's own arm, or only the others'.
      [`owner=${me}`, [OWN]],
      [`owner=${me}&visibility=all`, [OWN]],
      [`owner=${other}`, [PUBLIC, MEMBER]],
      [`owner=${other}&visibility=all`, [PUBLIC, COMMUNITY, MEMBER]],
      [`owner=${other}&visibility=private`, [MEMBER]],
    ];
    const orders = ["", "sort_key=created_at&sort_dir=asc", "sort=created_at:asc", "sort_dir=desc"];
    for (const [filter, indexes] of expected) {
      for (const order of orders) {
        for (const from of ["", `marker=${marker}`]) {
          const q = [filter, order, from].filter((p) => p !== "").join("&");
          const got = await listArms(run, me, q);
          expect(
            got.arms.map((a) => a.index),
            got.trace,
          ).toEqual(indexes);
          for (const arm of got.arms.filter((a) => a.index !== MEMBER)) {
            expect(arm.sorts, `${q}: ${arm.detail} sorts`).toBe(false);
            // With a marker, the walk starts there, not at the top of the index.
            if (from !== "") expect(arm.detail, q).toMatch(/created_at[<>]\?/);
          }
        }
      }
    }
    expect(await run.offenders()).toEqual([]);
  }, 60_000);

  /**
   * Any other sort key: still each arm on its own index, so an arm reads only images of its
   * kind, but all of them after the marker, sorted (USE TEMP B-TREE inside the arm): no index
   * starts with (visibility, key) or (owner, key). Known and documented (src/images/store.ts).
   * Only os_hidden, visibility in the public arm and owner in the own arm are the index's order
   * already.
   */
  it("other sort keys: the same indexes, each arm sorting what it read", async () => {
    const run = new PlanRun();
    const me = project("me");
    const marker = await createImage(me, { visibility: "shared", name: "m" });
    for (const key of SORT_KEYS.filter((k) => k !== "created_at")) {
      for (const q of [`sort_key=${key}`, `sort=${key}:asc`, `sort_key=${key}&marker=${marker}`]) {
        const got = await listArms(run, me, q);
        expect(
          got.arms.map((a) => a.index),
          got.trace,
        ).toEqual([PUBLIC, OWN, MEMBER]);
        // Sorting by a column with one value in the arm (the one its index starts with, or
        // os_hidden, always filtered by equality) needs no sort: the index gives the rest.
        const sorted = key !== "os_hidden";
        expect(
          got.arms.map((a) => a.sorts),
          got.trace,
        ).toEqual([sorted && key !== "visibility", sorted && key !== "owner", true]);
      }
    }
    expect(await run.offenders()).toEqual([]);
  }, 60_000);
});

/** The marker a listing's `next` carries (docs/reference.md §12.2, §12.4: opaque). */
const markerOf = (text: string) => {
  const next = json<{ next?: string }>(text).next;
  expect(next, `no next in ${text}`).toBeDefined();
  return new URLSearchParams((next as string).split("?")[1]).get("marker") as string;
};

/** Who in which role, for docs/reference.md §12's routes. */
const sharingCast = () => ({
  owner: project("owner"),
  member: project("member"),
  both: project("both"),
  other: project("other"),
});

describe("query plans of docs/reference.md §12: no full scan of images, image_members or member_events", () => {
  it("PATCH member and POST members with an expiry, on success and refusal", async () => {
    const run = new PlanRun();
    const { owner, member, other } = sharingCast();
    const id = await createImage(owner, { visibility: "shared" });
    await addMember(owner, id, other);
    const base = `/v2/images/${id}/members`;
    const later = new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d{3}Z$/, "Z");

    await run.send("POST", base, 200, { who: who(owner), body: { member_id: member, expires_at: later } });
    await run.send("POST", base, 409, { who: who(owner), body: { member_id: member, expires_at: later } });
    await run.send("PATCH", `${base}/${other}`, 200, { who: who(owner), body: { expires_at: later } });
    await run.send("PATCH", `${base}/${other}`, 200, { who: adminWho(), body: { expires_at: null } });
    await run.send("PATCH", `${base}/${other}`, 403, { who: who(other), body: { expires_at: later } });
    await run.send("PATCH", `${base}/${project("nobody")}`, 404, {
      who: who(owner),
      body: { expires_at: null },
    });
    await run.send("PATCH", `${base}/${other}`, 404, { who: who(project("s")), body: { expires_at: null } });
    await run.send("PATCH", `${base}/${other}`, 400, {
      who: who(owner),
      body: { expires_at: "2000-01-01T00:00:00Z" },
    });
    // An expired row is replaced by a re-add (its DELETE, then the INSERT, in one batch).
    await env.DB.prepare(
      "UPDATE image_members SET expires_at = '2000-01-01T00:00:00Z' WHERE image_id = ?1 AND member_id = ?2",
    )
      .bind(id, member)
      .run();
    await run.send("PATCH", `${base}/${member}`, 404, { who: who(owner), body: { expires_at: null } });
    await run.send("POST", base, 200, { who: who(owner), body: { member_id: member } });

    const kinds = run.statements().map((s) => kindOf(s.sql));
    expect(kinds).toEqual(
      expect.arrayContaining([
        "INSERT INTO image_members",
        "UPDATE image_members SET",
        "DELETE FROM image_members",
      ]),
    );
    expect(await run.offenders()).toEqual([]);
  });

  it("GET /v2/shares: a project's inbox and outbox, an admin's listing; every filter; markers", async () => {
    const run = new PlanRun();
    const { owner, member, both, other } = sharingCast();
    // `both` owns an image shared with `owner`, and is a member of `owner`'s images: both arms hold rows.
    const images = [
      await createImage(owner, { visibility: "shared" }),
      await createImage(owner, { visibility: "private" }),
    ];
    const theirs = await createImage(both, { visibility: "shared" });
    for (const id of images) for (const m of [member, both, other]) await addMember(owner, id, m);
    await addMember(both, theirs, owner);
    await run.send("PUT", `/v2/images/${images[0]}/members/${member}`, 200, {
      who: who(member),
      body: { status: "accepted" },
    });

    const filters = [
      "",
      `member_id=${member}`,
      `owner=${owner}`,
      `image_id=${images[0]}`,
      `image_id=${images[0]?.toUpperCase()}`,
      ...["pending", "accepted", "rejected", "all"].map((s) => `status=${s}`),
      `owner=${owner}&member_id=${both}&status=pending`,
      "limit=1",
      "limit=1000",
    ];
    for (const caller of [who(owner), who(member), who(both), adminWho()]) {
      for (const q of filters) await run.send("GET", `/v2/shares${q ? `?${q}` : ""}`, 200, { who: caller });
      // A second page, and a filtered one, from the first page's marker.
      const first = await run.send("GET", "/v2/shares?limit=1", 200, { who: caller });
      const marker = markerOf(first);
      await run.send("GET", `/v2/shares?limit=1&marker=${marker}`, 200, { who: caller });
      await run.send("GET", `/v2/shares?status=pending&limit=2&marker=${marker}`, 200, { who: caller });
    }

    const sql = run.statements().map((s) => s.sql);
    expect(sql.some((s) => /UNION ALL/.test(s))).toBe(true);
    expect(sql.some((s) => !/UNION ALL/.test(s) && /FROM live_members m JOIN images i/.test(s))).toBe(true);
    expect(await run.offenders()).toEqual([]);
  });

  it("POST /v2/shares: success, refusals (404, 403, 413), expired pairs replaced", async () => {
    const run = new PlanRun();
    const { owner, member, both, other } = sharingCast();
    const [a, b] = [
      await createImage(owner, { visibility: "shared" }),
      await createImage(owner, { visibility: "private" }),
    ];
    const community = await createImage(owner, { visibility: "community" });
    await addMember(owner, a, member);
    await env.DB.prepare(
      "UPDATE image_members SET expires_at = '2000-01-01T00:00:00Z' WHERE image_id = ?1 AND member_id = ?2",
    )
      .bind(a, member)
      .run();
    const later = new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d{3}Z$/, "Z");

    await run.send("POST", "/v2/shares", 200, {
      who: who(owner),
      body: { images: [a, b.toUpperCase()], members: [member, both], expires_at: later },
    });
    await run.send("POST", "/v2/shares", 200, {
      who: adminWho(),
      body: { images: [a, b], members: [member, other] },
    });
    await run.send("POST", "/v2/shares", 404, {
      who: who(owner),
      body: { images: [a, crypto.randomUUID()], members: [other] },
    });
    await run.send("POST", "/v2/shares", 404, {
      who: who(owner),
      body: { images: ["not-a-uuid"], members: [other] },
    });
    await run.send("POST", "/v2/shares", 403, {
      who: who(owner),
      body: { images: [community], members: [other] },
    });
    await run.send("POST", "/v2/shares", 403, { who: who(member), body: { images: [a], members: [other] } });
    await run.send("POST", "/v2/shares", 413, {
      who: who(owner),
      body: { images: [a, b], members: [project("x"), project("y")] },
      vars: { IMAGE_MEMBER_QUOTA: "3" },
    });

    const kinds = run.statements().map((s) => kindOf(s.sql));
    expect(kinds).toEqual(
      expect.arrayContaining([
        "INSERT INTO image_members",
        "DELETE FROM image_members",
        "UPDATE change_context SET",
      ]),
    );
    expect(await run.offenders()).toEqual([]);
  });

  it("GET /v2/member-events: as the member, the owner and an admin; every filter; markers", async () => {
    const run = new PlanRun();
    const { owner, member, other } = sharingCast();
    const id = await createImage(owner, { visibility: "shared" });
    for (const m of [member, other]) await addMember(owner, id, m);
    await run.send("PUT", `/v2/images/${id}/members/${member}`, 200, {
      who: who(member),
      body: { status: "accepted" },
    });
    await run.send("DELETE", `/v2/images/${id}/members/${other}`, 204, { who: who(owner) });
    const since = new Date(Date.now() - 3_600_000).toISOString().replace(/\.\d{3}Z$/, "Z");

    const filters = [
      "",
      `image_id=${id}`,
      `image_id=${id.toUpperCase()}`,
      `member_id=${member}`,
      ...["create", "update", "expire", "delete", "image-delete"].map((a) => `action=${a}`),
      `since=${since}`,
      `image_id=${id}&member_id=${member}&action=update&since=${since}`,
      "limit=1",
      "limit=1000",
    ];
    for (const caller of [who(owner), who(member), adminWho()]) {
      for (const q of filters) {
        await run.send("GET", `/v2/member-events${q ? `?${q}` : ""}`, 200, { who: caller });
      }
      const marker = markerOf(await run.send("GET", "/v2/member-events?limit=1", 200, { who: caller }));
      await run.send("GET", `/v2/member-events?limit=1&marker=${marker}`, 200, { who: caller });
      await run.send("GET", `/v2/member-events?action=create&limit=5&marker=${marker}`, 200, { who: caller });
    }

    expect(run.statements().some((s) => /FROM member_events e/.test(s.sql))).toBe(true);
    expect(await run.offenders()).toEqual([]);
  });

  it("the Cron Trigger's purge: expired memberships and records past retention", async () => {
    const run = new PlanRun();
    const { owner, member } = sharingCast();
    const id = await createImage(owner, { visibility: "shared" });
    await addMember(owner, id, member);
    await env.DB.batch([
      env.DB.prepare(
        "UPDATE image_members SET expires_at = '2000-01-01T00:00:00Z' WHERE image_id = ?1 AND member_id = ?2",
      ).bind(id, member),
      env.DB.prepare("UPDATE member_events SET at = '2000-01-01T00:00:00Z' WHERE image_id = ?1").bind(id),
    ]);
    const report = await run.purge(Date.now());
    expect(report.expired).toBeGreaterThanOrEqual(1);
    expect(report.records).toBeGreaterThanOrEqual(1);

    const deletes = run
      .statements()
      .filter((s) => /^\s*DELETE FROM (image_members|member_events)\b/.test(s.sql));
    expect(deletes.map((s) => s.sql.trim().split(/\s+/).slice(0, 3).join(" ")).sort()).toEqual([
      "DELETE FROM image_members",
      "DELETE FROM member_events",
    ]);
    expect(await run.offenders()).toEqual([]);
  });

  /**
   * The audit trail is written by triggers (migrations/0005), which EXPLAIN QUERY PLAN of the
   * writing statement does not show: each trigger's WHEN and body are explained on their own,
   * NEW.x and OLD.x bound as parameters. (So are the other triggers on these tables.)
   */
  it("the triggers on images and image_members, the audit's among them", async () => {
    const { results } = await env.DB.prepare(
      "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ('images', 'image_members')",
    ).all<{ name: string; sql: string }>();
    expect(results.map((r) => r.name)).toEqual(
      expect.arrayContaining([
        "member_events_create",
        "member_events_delete",
        "member_events_image_delete",
        "member_events_update",
      ]),
    );
    const offenders: { trigger: string; sql: string; scans: string[]; plan: string[] }[] = [];
    let explained = 0;
    for (const { name, sql } of results) {
      const when = /\bWHEN\b([\s\S]*?)\bBEGIN\b/i.exec(sql)?.[1];
      const body = /\bBEGIN\b([\s\S]*)\bEND\s*;?\s*$/i.exec(sql)?.[1] ?? "";
      const parts = [
        ...(when ? [`SELECT ${when.trim()}`] : []),
        ...body
          .split(";")
          .map((b) => b.trim())
          .filter((b) => b !== ""),
      ];
      for (const part of parts) {
        const params: unknown[] = [];
        const bound = part.replace(/\b(?:NEW|OLD)\.(\w+)/g, () => {
          params.push("x");
          return `?${params.length}`;
        });
        // Only a statement that reads a table can scan one (VALUES and RAISE alone have no plan).
        if (!/\bFROM\b/i.test(bound)) continue;
        const plan = await explain({ sql: bound, params });
        expect(plan.length, `no plan for ${name}: ${bound}`).toBeGreaterThan(0);
        explained++;
        const scans = fullScans(bound, plan);
        if (scans.length > 0)
          offenders.push({
            trigger: name,
            sql: bound.replace(/\s+/g, " "),
            scans,
            plan: plan.map((r) => r.detail),
          });
      }
    }
    // The four audit triggers' bodies and the delete trigger's WHEN, at least.
    expect(explained).toBeGreaterThanOrEqual(5);
    expect(offenders).toEqual([]);
  });
});

describe("the scan rule", () => {
  const plan = async (sql: string, ...params: unknown[]) => fullScans(sql, await explain({ sql, params }));

  it("flags a full scan of either table, under its name or an alias", async () => {
    expect(await plan("SELECT id FROM images WHERE checksum = ?1", "x")).toEqual(["SCAN images"]);
    expect(await plan("SELECT i.id FROM images i WHERE i.checksum = ?1", "x")).toEqual(["SCAN i"]);
    expect(await plan("SELECT m.image_id FROM image_members m WHERE m.updated_at = ?1", "x")).toEqual([
      "SCAN m",
    ]);
  });

  it("flags an index walk that is followed by a sort, or has no LIMIT", async () => {
    expect(await plan("SELECT i.id FROM images i ORDER BY i.checksum LIMIT 5")).toEqual(["SCAN i"]);
    const walk = await plan(
      "SELECT i.id FROM images i WHERE i.checksum = ?1 ORDER BY i.created_at DESC",
      "x",
    );
    expect(walk).toHaveLength(1);
    expect(walk[0]).toMatch(/^SCAN i USING (COVERING )?INDEX /);
  });

  it("accepts keyed searches, the list's ordered walk with LIMIT, and json_each over tags", async () => {
    expect(await plan("SELECT i.id FROM images i WHERE i.id = ?1", "x")).toEqual([]);
    expect(await plan("SELECT i.id FROM images i ORDER BY i.created_at DESC, i.id DESC LIMIT ?1", 5)).toEqual(
      [],
    );
    expect(
      await plan(
        "SELECT i.id FROM images i WHERE EXISTS (SELECT 1 FROM json_each(i.tags) t WHERE t.value = ?1) ORDER BY i.created_at DESC, i.id DESC LIMIT 5",
        "a",
      ),
    ).toEqual([]);
  });

  it("accepts member_events walked in id order with LIMIT, and flags it otherwise", async () => {
    expect(await plan("SELECT e.id FROM member_events e ORDER BY e.id DESC LIMIT ?1", 5)).toEqual([]);
    expect(await plan("SELECT e.id FROM member_events e WHERE e.status = ?1", "x")).toEqual(["SCAN e"]);
    expect(await plan("SELECT e.id FROM member_events e ORDER BY e.status LIMIT 5")).toEqual(["SCAN e"]);
    expect(
      await plan("SELECT e.id FROM member_events e WHERE e.status = ?1 ORDER BY e.id DESC", "x"),
    ).toEqual(["SCAN e"]);
  });

  it("reads aliases from FROM, JOIN and UPDATE, not SQL keywords", () => {
    const names = tableNames(
      "UPDATE image_members SET x = 1 WHERE EXISTS (SELECT 1 FROM images i LEFT JOIN image_members AS t ON t.image_id = i.id JOIN live_members lm ON lm.image_id = i.id)",
    );
    expect(Object.fromEntries(names)).toEqual({
      images: "images",
      image_members: "image_members",
      member_events: "member_events",
      live_members: "image_members",
      i: "images",
      t: "image_members",
      lm: "image_members",
    });
  });
});
