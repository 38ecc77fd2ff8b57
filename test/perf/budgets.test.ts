import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { addMember, BASE, createImage, identity, project, type Who } from "../helpers";
import { countingDb, type RoundTrip } from "./counting-db";

/**
 * Issue 11 item 3: what a request costs inside D1 does not grow with the database. Each route's
 * rows read and written — D1's own `meta.rows_read` / `rows_written`, what D1 bills and what
 * bounds a statement's time — are measured twice for the same callers with the same data of
 * their own: on a small database (only the callers' rows), then after thousands of images,
 * memberships, audit records and projects of others were added by SQL. Both must be within a
 * budget that is a constant per route: it may depend on the page size and on what the caller
 * owns (members of its images, images it is a member of), never on what others hold.
 *
 * `first()` returns no meta (test/perf/counting-db.ts): a trip made with it that only reads is
 * run again with `all()` on the same data, and its meta counted.
 */

// ---- the callers' own data: the same on the small and the large database ------------------------
/** Members of the owner's shared image (the member list), of which `member` is one. */
const MEMBERS = 10;
/** Other images of the owner, each with MEMBERS members: the owner's outbox has 4 × 10 memberships. */
const OTHER_IMAGES = 3;
/** Images of another owner that `member` is a member of: its inbox and its image list. */
const INBOX = 30;
/** Page size asked for by the listing routes. */
const PAGE = 25;

// ---- others' data, added by SQL in batches for the large database ---------------------------------
const BULK_IMAGES = 6_000;
const BULK_MEMBERS_PER_IMAGE = 4;
const BULK_OWNERS = 300;
const BULK_MEMBER_PROJECTS = 2_000;

/**
 * Budgets in rows, per request, set from the figures the tests log with a margin. Listing pages
 * scale with PAGE. Where a route reads what the caller owns, the budget names it: the member
 * list and the quota's count read the image's members (MEMBERS here; at most the member quota),
 * the image list reads the caller's memberships (INBOX), the outbox the owner's memberships.
 * Nothing here depends on what others hold.
 *
 * A page of GET /v2/images is a union of arms (src/images/store.ts listImages), each on its own
 * index and cut at the page: others' public images and the caller's own, at most a page each;
 * merging the arms reads the page once more; the member arm reads each of the caller's
 * memberships three times — the membership, its image, and the get_image rule's own membership
 * check of that image. Measured on the large database: 145 and 151 rows for the member's two
 * pages (the member arm 93 and 94 of them, for 31 memberships), 58 for the owner's page.
 */
const IMAGES_PAGE = { read: 3 * PAGE + 3 * INBOX, written: 0 };
const BUDGET = {
  "GET members (owner, 10 members)": { read: 2 * MEMBERS + 10, written: 0 },
  "GET member (the member)": { read: 5, written: 0 },
  "POST members (owner adds one)": { read: 3 * MEMBERS + 20, written: 16 },
  "PUT member (status)": { read: 25, written: 12 },
  "PATCH member (expiry)": { read: 20, written: 12 },
  "DELETE member (owner)": { read: 25, written: 12 },
  "GET image (a member)": { read: 4, written: 0 },
  "GET images, a page (member)": IMAGES_PAGE,
  "GET images, next page (member)": IMAGES_PAGE,
  "GET images, a page (owner)": IMAGES_PAGE,
  "GET shares, a page (inbox)": { read: 4 * PAGE, written: 0 },
  "GET shares, a page (admin)": { read: 3 * PAGE, written: 0 },
  // Two images of MEMBERS members each, two new members: the quota's counts read each image's
  // members several times.
  "POST shares (2 images, 2 members)": { read: 10 * 2 * MEMBERS + 50, written: 60 },
  "GET member-events, a page (member)": { read: 3 * PAGE, written: 0 },
  "GET member-events, a page (owner)": { read: 3 * PAGE, written: 0 },
  "GET member-events, a page (admin)": { read: PAGE + 5, written: 0 },
} as const;

/**
 * GET /v2/shares as the owner (its outbox) reads every live membership of the images it owns and
 * sorts them (src/shares/store.ts: the owner's arm joins images_by_owner to each image's
 * memberships, and no index gives them in the listing's order across images). So its budget is
 * in terms of what the owner shared, not of the page: its memberships, and the inbox arm's page.
 */
const outboxBudget = (memberships: number) => ({ read: 3 * memberships + 2 * PAGE, written: 0 });
const OUTBOX_MEMBERSHIPS = (1 + OTHER_IMAGES) * MEMBERS;
const SHARES_OUTBOX = outboxBudget(OUTBOX_MEMBERSHIPS);

type Route = keyof typeof BUDGET | "GET shares, a page (outbox)";

interface Cost {
  status: number;
  read: number;
  written: number;
}

/** An expiry a year ahead, at second precision (docs/reference.md §12.1). */
const inAYear = () => `${new Date(Date.now() + 365 * 86_400_000).toISOString().slice(0, 19)}Z`;

const who = (p: string, roles = ["member", "reader"]): Who => ({ project: p, roles });

async function costOf(trips: RoundTrip[]): Promise<{ read: number; written: number }> {
  let read = 0;
  let written = 0;
  for (const trip of trips) {
    if (trip.rowsRead !== undefined) {
      read += trip.rowsRead;
      written += trip.rowsWritten ?? 0;
      continue;
    }
    // first()/raw() answered without meta: rerun a read-only trip with all() on the same data.
    for (const s of trip.statements) {
      if (/\b(INSERT|UPDATE|DELETE|REPLACE)\b/i.test(s.sql)) {
        throw new Error(`a ${trip.kind}() trip that writes cannot be measured: ${s.sql.slice(0, 80)}`);
      }
      const again = await env.DB.prepare(s.sql)
        .bind(...s.params)
        .all();
      read += again.meta.rows_read;
      written += again.meta.rows_written;
    }
  }
  return { read, written };
}

async function send(method: string, path: string, caller: Who, body?: unknown): Promise<Cost> {
  const counting = countingDb(env.DB);
  const headers: Record<string, string> = { ...identity(caller), Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const ctx = createExecutionContext();
  const res = await app.fetch(
    new Request(`${BASE}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
    { ...env, DB: counting.db },
    ctx,
  );
  const text = await res.text();
  await waitOnExecutionContext(ctx);
  expect(res.status, `${method} ${path}: ${text}`).toBeLessThan(300);
  lastBody = text;
  return { status: res.status, ...(await costOf(counting.trips)) };
}
let lastBody = "";

/** The `marker` of the last listing's `next`. */
function nextMarker(): string {
  const next = (JSON.parse(lastBody) as { next?: string }).next;
  expect(next, lastBody).toBeDefined();
  return new URLSearchParams((next as string).split("?")[1]).get("marker") as string;
}

// ---- fixtures ---------------------------------------------------------------------------------------
interface World {
  owner: string;
  member: string;
  admin: string;
  image: string;
  others: string[];
}

async function callers(): Promise<World> {
  const owner = project("owner");
  const member = project("member");
  const admin = project("admin");
  const image = await createImage(owner, { visibility: "shared" });
  await addMember(owner, image, member);
  for (let n = 1; n < MEMBERS; n++) await addMember(owner, image, project("m"));
  const others: string[] = [];
  for (let i = 0; i < OTHER_IMAGES; i++) {
    const id = await createImage(owner, { visibility: i === 0 ? "private" : "shared" });
    for (let n = 0; n < MEMBERS; n++) await addMember(owner, id, project("m"));
    others.push(id);
  }
  const elsewhere = project("owner");
  for (let i = 0; i < INBOX; i++) {
    await addMember(elsewhere, await createImage(elsewhere, { visibility: "shared" }), member);
  }
  return { owner, member, admin, image, others };
}

/** Deterministic, random-looking lower-case UUIDs with a prefix of this run (SQL expression). */
const uuid = (prefix: string, n: string) =>
  `printf('${prefix}-%04x-4%03x-8%03x-%012x', (${n} * 40503) % 65536, (${n} * 977) % 4096, (${n} * 1597) % 4096, ${n})`;
/** Creation times spread over 2000–2099 in an order unrelated to n: before and after the callers'. */
const stamp = (n: string) =>
  `strftime('%Y-%m-%dT%H:%M:%SZ', 946684800 + ((${n} * 7919) % ${BULK_IMAGES}) * (3155760000 / ${BULK_IMAGES}), 'unixepoch')`;

/**
 * Others' rows, by SQL: BULK_IMAGES images of BULK_OWNERS owners (1 in 20 public, 1 in 20
 * community, 1 in 10 private, the rest shared), each shared or private one with
 * BULK_MEMBERS_PER_IMAGE members drawn from BULK_MEMBER_PROJECTS projects (1 in 10 expired,
 * statuses mixed), whose audit records the triggers write; then as many records again of
 * images since deleted.
 */
async function seedOthers(): Promise<{ images: number; memberships: number; events: number }> {
  const prefix = crypto.randomUUID().slice(0, 8);
  const batch = 2_000;
  const statements: D1PreparedStatement[] = [];
  for (let from = 0; from < BULK_IMAGES; from += batch) {
    const to = Math.min(from + batch, BULK_IMAGES);
    statements.push(
      env.DB.prepare(
        `INSERT INTO images (id, owner, visibility, name, disk_format, container_format, status, created_at, updated_at)
         WITH RECURSIVE seq(n) AS (SELECT ${from} UNION ALL SELECT n + 1 FROM seq WHERE n + 1 < ${to})
         SELECT ${uuid(prefix, "n")}, 'bulk-owner-' || (n % ${BULK_OWNERS}),
           CASE n % 20 WHEN 0 THEN 'public' WHEN 1 THEN 'community' WHEN 2 THEN 'private' WHEN 3 THEN 'private'
             ELSE 'shared' END,
           'bulk-' || n, 'qcow2', 'bare', 'active', ${stamp("n")}, ${stamp("n")}
         FROM seq`,
      ),
      env.DB.prepare(
        `INSERT INTO image_members (image_id, member_id, status, created_at, updated_at, expires_at)
         WITH RECURSIVE seq(n) AS (SELECT ${from} UNION ALL SELECT n + 1 FROM seq WHERE n + 1 < ${to}),
           ks(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM ks WHERE k + 1 < ${BULK_MEMBERS_PER_IMAGE})
         SELECT ${uuid(prefix, "n")}, 'bulk-member-' || ((n * ${BULK_MEMBERS_PER_IMAGE} + k) * 7919 % ${BULK_MEMBER_PROJECTS}),
           CASE (n + k) % 3 WHEN 0 THEN 'accepted' WHEN 1 THEN 'pending' ELSE 'rejected' END,
           ${stamp("n")}, ${stamp("n")}, CASE WHEN (n + k) % 10 = 0 THEN '2001-01-01T00:00:00Z' END
         FROM seq, ks WHERE n % 20 >= 2`,
      ),
    );
  }
  await env.DB.batch(statements);
  // Records that outlived their images.
  await env.DB.prepare(
    `INSERT INTO member_events (at, action, image_id, image_owner, member_id, status)
     SELECT at, 'image-delete', '${prefix}-dead-' || image_id, image_owner, member_id, status
     FROM member_events WHERE image_id LIKE '${prefix}-%'`,
  ).run();
  const count = async (sql: string) => (await env.DB.prepare(sql).first<{ n: number }>())?.n ?? 0;
  return {
    images: await count("SELECT COUNT(*) AS n FROM images"),
    memberships: await count("SELECT COUNT(*) AS n FROM image_members"),
    events: await count("SELECT COUNT(*) AS n FROM member_events"),
  };
}

// ---- the routes ---------------------------------------------------------------------------------------
/** Each route once, as its caller, leaving the callers' data as it found it. */
async function measure(w: World): Promise<Map<Route, Cost>> {
  const out = new Map<Route, Cost>();
  const members = `/v2/images/${w.image}/members`;
  const owner = who(w.owner);
  const member = who(w.member);
  const admin = who(w.admin, ["admin", "member", "reader"]);
  const fresh = project("new");

  out.set("GET members (owner, 10 members)", await send("GET", members, owner));
  out.set("GET member (the member)", await send("GET", `${members}/${w.member}`, member));
  out.set("POST members (owner adds one)", await send("POST", members, owner, { member_id: fresh }));
  out.set("PUT member (status)", await send("PUT", `${members}/${w.member}`, member, { status: "accepted" }));
  out.set(
    "PATCH member (expiry)",
    await send("PATCH", `${members}/${fresh}`, owner, { expires_at: inAYear() }),
  );
  out.set("DELETE member (owner)", await send("DELETE", `${members}/${fresh}`, owner));
  out.set("GET image (a member)", await send("GET", `/v2/images/${w.image}`, member));
  out.set(
    "GET images, a page (member)",
    await send("GET", `/v2/images?limit=${PAGE}&member_status=all`, member),
  );
  out.set(
    "GET images, next page (member)",
    await send("GET", `/v2/images?limit=${PAGE}&member_status=all&marker=${nextMarker()}`, member),
  );
  out.set("GET images, a page (owner)", await send("GET", `/v2/images?limit=${PAGE}`, owner));
  out.set("GET shares, a page (inbox)", await send("GET", `/v2/shares?limit=${PAGE}`, member));
  out.set("GET shares, a page (outbox)", await send("GET", `/v2/shares?limit=${PAGE}`, owner));
  out.set("GET shares, a page (admin)", await send("GET", `/v2/shares?limit=${PAGE}`, admin));
  const added = [project("bulk"), project("bulk")];
  out.set(
    "POST shares (2 images, 2 members)",
    await send("POST", "/v2/shares", owner, { images: w.others.slice(1, 3), members: added }),
  );
  // Back to the owner's data as it was: the bulk share's memberships go again.
  for (const id of w.others.slice(1, 3)) {
    for (const m of added) await send("DELETE", `/v2/images/${id}/members/${m}`, owner);
  }
  out.set("GET member-events, a page (member)", await send("GET", `/v2/member-events?limit=${PAGE}`, member));
  out.set("GET member-events, a page (owner)", await send("GET", `/v2/member-events?limit=${PAGE}`, owner));
  out.set("GET member-events, a page (admin)", await send("GET", `/v2/member-events?limit=${PAGE}`, admin));
  return out;
}

const budgetOf = (route: Route) => (route === "GET shares, a page (outbox)" ? SHARES_OUTBOX : BUDGET[route]);

describe("rows read and written per request do not grow with the database (D1 meta)", () => {
  let w: World;
  let small: Map<Route, Cost>;
  let large: Map<Route, Cost>;
  let sizes: { images: number; memberships: number; events: number };

  beforeAll(async () => {
    w = await callers();
    small = await measure(w);
    sizes = await seedOthers();
    large = await measure(w);
    const lines = [...small.keys()].map((route) => {
      const s = small.get(route) as Cost;
      const l = large.get(route) as Cost;
      const b = budgetOf(route);
      return `${route.padEnd(38)} read ${String(s.read).padStart(4)} -> ${String(l.read).padStart(5)} (budget ${b.read}), written ${s.written} -> ${l.written} (budget ${b.written})`;
    });
    console.log(
      `rows per request, small database -> large (${sizes.images} images, ${sizes.memberships} memberships, ${sizes.events} audit records):\n  ${lines.join("\n  ")}`,
    );
  }, 300_000);

  it("the large database holds enough of others' rows that a scan would show", () => {
    expect(sizes.images).toBeGreaterThan(BULK_IMAGES);
    expect(sizes.memberships).toBeGreaterThan(15_000);
    expect(sizes.events).toBeGreaterThan(30_000);
    const budgets = [...Object.values(BUDGET), SHARES_OUTBOX].map((b) => b.read);
    expect(Math.max(...budgets) * 10).toBeLessThan(sizes.memberships);
  });

  const routes = Object.keys(BUDGET).concat("GET shares, a page (outbox)") as Route[];
  const within = (route: Route, size: "small" | "large") => {
    const budget = budgetOf(route);
    const c = (size === "small" ? small : large).get(route) as Cost;
    expect(c.read, `${route}: rows read, ${size} database`).toBeLessThanOrEqual(budget.read);
    expect(c.written, `${route}: rows written, ${size} database`).toBeLessThanOrEqual(budget.written);
  };

  it.each(routes)("%s: within its budget on the small database", (route) => within(route, "small"));
  it.each(routes)("%s: within its budget on the large database", (route) => within(route, "large"));

  it("the outbox grows with what the owner shared, within its budget: 2 images with 100 members each", async () => {
    const owner = project("owner");
    const images = [
      await createImage(owner, { visibility: "shared" }),
      await createImage(owner, { visibility: "shared" }),
    ];
    const members = Array.from({ length: 100 }, () => project("m"));
    await send("POST", "/v2/shares", who(owner), { images, members });
    const first = await send("GET", `/v2/shares?limit=${PAGE}`, who(owner));
    const second = await send("GET", `/v2/shares?limit=${PAGE}&marker=${nextMarker()}`, who(owner));
    console.log(
      `GET /v2/shares outbox of 200 memberships, a page of ${PAGE}: read ${first.read}, then ${second.read}`,
    );
    for (const c of [first, second]) {
      expect(c.read).toBeLessThanOrEqual(outboxBudget(200).read);
      // It does read what the owner shared, not only the page: the reason for its budget's form.
      expect(c.read).toBeGreaterThan(200);
    }
  }, 60_000);
});
