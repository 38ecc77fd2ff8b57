import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { faultyD1 } from "../hardening/faulty-d1";
import {
  type Answer,
  answer,
  BASE,
  call,
  createImage,
  dump,
  expectError,
  LEGACY,
  project,
  rid,
  type Who,
} from "../helpers";

/**
 * GET /v2/member-events (docs/reference.md §12.4): every membership change appends one record in the same
 * transaction as the change, readable newest first by the member and the image's owner (at the
 * time), all of them by an admin.
 */

const STAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const GENERATED_ID = /^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const RECORD_KEYS = [
  "id",
  "at",
  "action",
  "image_id",
  "image_owner",
  "member_id",
  "status",
  "expires_at",
  "actor",
  "request_id",
];
// Written out here, not imported: the texts reference and the schema promise.
const SINCE_MESSAGE = "Invalid since: must be a time in the form YYYY-MM-DDThh:mm:ssZ.";
const UNAVAILABLE_TEXT = "The server is currently unavailable. Please try again at a later time.";

const stamp = (ms: number) => `${new Date(ms).toISOString().slice(0, 19)}Z`;

interface Actor {
  project_id: string | null;
  user_id: string | null;
}
interface Rec {
  id: number;
  at: string;
  action: string;
  image_id: string;
  image_owner: string | null;
  member_id: string;
  status: string;
  expires_at: string | null;
  actor: Actor | null;
  request_id: string | null;
}
interface Page {
  events: Rec[];
  first: string;
  next?: string;
  schema: string;
}

const ADMIN: Who = { project: `admin-${rid()}`, roles: ["admin", "member", "reader"], user: "root" };
const as = (p: string, user = `user-of-${p}`, roles = ["member", "reader"]): Who => ({
  project: p,
  user,
  roles,
});

async function ok(w: Who, method: string, path: string, body?: unknown, headers?: Record<string, string>) {
  const r = await answer(call(method, path, { who: w, body, headers }));
  expect(r.status, `${method} ${path}: ${r.text}`).toBeLessThan(300);
  expect(r.requestId).toMatch(/^req-/);
  return r;
}

/** One page of records as `w`, checked for docs/reference.md §12.4's shape. */
async function list(w: Who, query = "", vars?: Partial<Cloudflare.Env>): Promise<Page> {
  const res = await call("GET", `/v2/member-events${query}`, { who: w, vars });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  expect(res.headers.get("Content-Type")).toBe("application/json");
  const body = JSON.parse(text) as Page;
  expect(Object.keys(body)).toEqual(
    body.next === undefined ? ["events", "first", "schema"] : ["events", "first", "next", "schema"],
  );
  expect(body.schema).toBe("/v2/schemas/member-events");
  for (const e of body.events) {
    expect(Object.keys(e)).toEqual(RECORD_KEYS);
    expect(Number.isSafeInteger(e.id)).toBe(true);
    expect(e.at).toMatch(STAMP);
    if (e.actor !== null) expect(Object.keys(e.actor)).toEqual(["project_id", "user_id"]);
  }
  const ids = body.events.map((e) => e.id);
  expect(ids, "newest first").toEqual([...ids].sort((a, b) => b - a));
  return body;
}

/** Every record of these images as an admin reads them, oldest first. */
async function trail(...images: string[]): Promise<Rec[]> {
  const out: Rec[] = [];
  for (const image of images) out.push(...(await list(ADMIN, `?image_id=${image}&limit=1000`)).events);
  return out.sort((a, b) => a.id - b.id);
}

/** What a record must be, but for its id and time (checked by `checkTimes`). */
function rec(r: Omit<Rec, "id" | "at">) {
  return { id: expect.any(Number), at: expect.stringMatching(STAMP), ...r };
}

/** Ids strictly increasing in order of the changes, times within the test's window. */
function checkTimes(records: Rec[], t0: number, t1: number) {
  for (let n = 1; n < records.length; n++) {
    expect(records[n]?.id).toBeGreaterThan(records[n - 1]?.id as number);
  }
  for (const r of records) {
    expect(r.at >= stamp(t0 - 2000) && r.at <= stamp(t1 + 2000), `${r.at} not in the window`).toBe(true);
  }
}

const members = (image: string) => `/v2/images/${image}/members`;
const member = (image: string, m: string) => `/v2/images/${image}/members/${m}`;

/** Makes a membership expired behind the API's back (a direct write: recorded without actor). */
async function expireDirectly(image: string, m: string, at = stamp(Date.now() - 3_600_000)) {
  await env.DB.prepare("UPDATE image_members SET expires_at = ?3 WHERE image_id = ?1 AND member_id = ?2")
    .bind(image, m, at)
    .run();
  const row = await env.DB.prepare(
    "SELECT expires_at FROM image_members WHERE image_id = ?1 AND member_id = ?2",
  )
    .bind(image, m)
    .first<{ expires_at: string }>();
  expect(row?.expires_at).toBe(at);
  return at;
}

async function liveRows(image: string) {
  const { results } = await env.DB.prepare(
    "SELECT member_id, status, expires_at FROM image_members WHERE image_id = ?1 ORDER BY member_id",
  )
    .bind(image)
    .all();
  return results;
}

const contextRows = async () =>
  (await env.DB.prepare("SELECT COUNT(*) AS n FROM change_context").first<{ n: number }>())?.n;

describe("a record for every change (docs/reference.md §12.4)", () => {
  it("add, PUT, PATCH (set and clear), DELETE: one record each, every field", async () => {
    const owner = project("owner");
    const m = project("member");
    const image = await createImage(owner);
    const t0 = Date.now();
    const add = await ok(as(owner, "alice"), "POST", members(image), { member_id: m });
    expect(add.requestId).toMatch(GENERATED_ID);
    const put = await ok(as(m, "bob"), "PUT", member(image, m), { status: "accepted" });
    const again = await ok(as(m, "bob"), "PUT", member(image, m), { status: "accepted" });
    const expiry = stamp(Date.now() + 86_400_000);
    const set = await ok(as(owner, "alice"), "PATCH", member(image, m), { expires_at: expiry });
    const clear = await ok(as(owner, "carol"), "PATCH", member(image, m), { expires_at: null });
    const reject = await ok(as(m, "bob"), "PUT", member(image, m), { status: "rejected" });
    const del = await ok(as(owner, "alice"), "DELETE", member(image, m));
    const t1 = Date.now();
    expect(del.status).toBe(204);

    const base = { image_id: image, image_owner: owner, member_id: m };
    const alice = { project_id: owner, user_id: "alice" };
    const bob = { project_id: m, user_id: "bob" };
    const records = await trail(image);
    expect(records).toStrictEqual([
      rec({
        action: "create",
        ...base,
        status: "pending",
        expires_at: null,
        actor: alice,
        request_id: add.requestId,
      }),
      rec({
        action: "update",
        ...base,
        status: "accepted",
        expires_at: null,
        actor: bob,
        request_id: put.requestId,
      }),
      rec({
        action: "update",
        ...base,
        status: "accepted",
        expires_at: null,
        actor: bob,
        request_id: again.requestId,
      }),
      rec({
        action: "update",
        ...base,
        status: "accepted",
        expires_at: expiry,
        actor: alice,
        request_id: set.requestId,
      }),
      rec({
        action: "update",
        ...base,
        status: "accepted",
        expires_at: null,
        actor: { project_id: owner, user_id: "carol" },
        request_id: clear.requestId,
      }),
      rec({
        action: "update",
        ...base,
        status: "rejected",
        expires_at: null,
        actor: bob,
        request_id: reject.requestId,
      }),
      rec({
        action: "delete",
        ...base,
        status: "rejected",
        expires_at: null,
        actor: alice,
        request_id: del.requestId,
      }),
    ]);
    checkTimes(records, t0, t1);
    expect(new Set(records.map((r) => r.request_id)).size).toBe(records.length);
    expect(await contextRows()).toBe(0);
  });

  it("an add with expires_at records it; the record's status is the row's after the change", async () => {
    const owner = project("owner");
    const m = project("member");
    const image = await createImage(owner);
    const expiry = stamp(Date.now() + 3 * 86_400_000);
    const add = await ok(as(owner), "POST", members(image), { member_id: m, expires_at: expiry });
    expect(add.json.expires_at).toBe(expiry);
    expect(await trail(image)).toStrictEqual([
      rec({
        action: "create",
        image_id: image,
        image_owner: owner,
        member_id: m,
        status: "pending",
        expires_at: expiry,
        actor: { project_id: owner, user_id: `user-of-${owner}` },
        request_id: add.requestId,
      }),
    ]);
  });

  it("the request id is the client's X-Openstack-Request-Id when it sent a usable one", async () => {
    const owner = project("owner");
    const m = project("member");
    const image = await createImage(owner);
    const trace = `trace-${rid()}`;
    const add = await ok(
      as(owner),
      "POST",
      members(image),
      { member_id: m },
      { "X-Openstack-Request-Id": trace },
    );
    expect(add.requestId).toBe(`req-${trace}`);
    const own = `req-${rid()}-x`;
    const put = await ok(
      as(m),
      "PUT",
      member(image, m),
      { status: "accepted" },
      { "X-Openstack-Request-Id": own },
    );
    expect(put.requestId).toBe(own);
    // Not usable (a space): replaced by a generated one, and the record carries that.
    const del = await ok(as(owner), "DELETE", member(image, m), undefined, {
      "X-Openstack-Request-Id": "bad id",
    });
    expect(del.requestId).toMatch(GENERATED_ID);
    expect((await trail(image)).map((r) => r.request_id)).toEqual([`req-${trace}`, own, del.requestId]);
  });

  it("the actor's user is X-User-Id, else X-User, else null", async () => {
    const owner = project("owner");
    const image = await createImage(owner);
    const raw = async (m: string, userHeaders: Record<string, string>) => {
      // Identity headers written out: `who` would add an X-User-Id.
      const res = await call("POST", members(image), {
        headers: {
          "X-Identity-Status": "Confirmed",
          "X-Project-Id": owner,
          "X-Roles": "member,reader",
          ...userHeaders,
        },
        body: { member_id: m },
      });
      expect(res.status, await res.text()).toBe(200);
    };
    await raw("m-id", { "X-User-Id": "by-id", "X-User": "by-name" });
    await raw("m-user", { "X-User": "by-name" });
    await raw("m-none", {});
    expect((await trail(image)).map((r) => [r.member_id, r.actor])).toEqual([
      ["m-id", { project_id: owner, user_id: "by-id" }],
      ["m-user", { project_id: owner, user_id: "by-name" }],
      ["m-none", { project_id: owner, user_id: null }],
    ]);
  });

  it("an admin's change is recorded with the admin as actor and the image's owner as image_owner", async () => {
    const owner = project("owner");
    const m = project("member");
    const image = await createImage(owner);
    const add = await ok(ADMIN, "POST", members(image), { member_id: m });
    const put = await ok(ADMIN, "PUT", member(image, m), { status: "accepted" });
    const root = { project_id: ADMIN.project as string, user_id: "root" };
    const base = { image_id: image, image_owner: owner, member_id: m, expires_at: null };
    expect(await trail(image)).toStrictEqual([
      rec({ action: "create", ...base, status: "pending", actor: root, request_id: add.requestId }),
      rec({ action: "update", ...base, status: "accepted", actor: root, request_id: put.requestId }),
    ]);
  });

  it("bulk POST /v2/shares: one create per created membership, in request order, none for existing ones", async () => {
    const owner = project("owner");
    const [m1, m2] = [project("m1"), project("m2")];
    const i1 = await createImage(owner);
    const i2 = await createImage(owner, { visibility: "private" });
    const before = await ok(as(owner, "alice"), "POST", members(i2), { member_id: m1 });
    const expiry = stamp(Date.now() + 7 * 86_400_000);
    const t0 = Date.now();
    const bulk = await ok(as(owner, "dave"), "POST", "/v2/shares", {
      images: [i2, i1],
      members: [m1, m2, m1],
      expires_at: expiry,
    });
    const t1 = Date.now();
    expect(
      bulk.json.shares.map((s: { image_id: string; member_id: string; created: boolean }) => s.created),
    ).toEqual([false, true, true, true]);
    const dave = { project_id: owner, user_id: "dave" };
    const created = { action: "create", image_owner: owner, status: "pending", actor: dave };
    const records = await trail(i1, i2);
    expect(records).toStrictEqual([
      rec({
        action: "create",
        image_id: i2,
        image_owner: owner,
        member_id: m1,
        status: "pending",
        expires_at: null,
        actor: { project_id: owner, user_id: "alice" },
        request_id: before.requestId,
      }),
      rec({ ...created, image_id: i2, member_id: m2, expires_at: expiry, request_id: bulk.requestId }),
      rec({ ...created, image_id: i1, member_id: m1, expires_at: expiry, request_id: bulk.requestId }),
      rec({ ...created, image_id: i1, member_id: m2, expires_at: expiry, request_id: bulk.requestId }),
    ]);
    checkTimes(records.slice(1), t0, t1);
    // The same call again creates nothing and records nothing.
    await ok(as(owner, "dave"), "POST", "/v2/shares", { images: [i2, i1], members: [m1, m2] });
    expect(await trail(i1, i2)).toStrictEqual(records);
  });

  it("a re-add replacing an expired row records its expiry (no actor) and then the create", async () => {
    const owner = project("owner");
    const m = project("member");
    const image = await createImage(owner);
    const expiry = stamp(Date.now() + 3_600_000);
    const first = await ok(as(owner), "POST", members(image), { member_id: m, expires_at: expiry });
    await ok(as(m), "PUT", member(image, m), { status: "accepted" });
    const past = await expireDirectly(image, m);
    const again = await ok(as(owner, "erin"), "POST", members(image), { member_id: m });
    expect(again.json.status).toBe("pending");
    const records = await trail(image);
    const base = { image_id: image, image_owner: owner, member_id: m };
    expect(records.slice(2)).toStrictEqual([
      // The direct write had no context row: no actor, no request id.
      rec({ action: "update", ...base, status: "accepted", expires_at: past, actor: null, request_id: null }),
      rec({ action: "expire", ...base, status: "accepted", expires_at: past, actor: null, request_id: null }),
      rec({
        action: "create",
        ...base,
        status: "pending",
        expires_at: null,
        actor: { project_id: owner, user_id: "erin" },
        request_id: again.requestId,
      }),
    ]);
    expect(records[0]?.request_id).toBe(first.requestId);
    expect(await liveRows(image)).toStrictEqual([{ member_id: m, status: "pending", expires_at: null }]);
  });

  it("a bulk re-add replacing an expired row records its expiry and the create", async () => {
    const owner = project("owner");
    const m = project("member");
    const image = await createImage(owner);
    await ok(as(owner), "POST", members(image), { member_id: m });
    const past = await expireDirectly(image, m);
    const bulk = await ok(as(owner), "POST", "/v2/shares", { images: [image], members: [m] });
    expect(bulk.json.shares[0].created).toBe(true);
    const base = { image_id: image, image_owner: owner, member_id: m };
    expect((await trail(image)).slice(2)).toStrictEqual([
      rec({ action: "expire", ...base, status: "pending", expires_at: past, actor: null, request_id: null }),
      rec({
        action: "create",
        ...base,
        status: "pending",
        expires_at: null,
        actor: { project_id: owner, user_id: `user-of-${owner}` },
        request_id: bulk.requestId,
      }),
    ]);
  });

  it("DELETE /v2/images/{id} by an admin records each membership it removed, with the owner and the deleter", async () => {
    const owner = project("owner");
    const [a, b, c] = [`a-${rid()}`, `b-${rid()}`, `c-${rid()}`];
    const image = await createImage(owner);
    for (const m of [c, a, b]) await ok(as(owner), "POST", members(image), { member_id: m });
    await ok(as(a), "PUT", member(image, a), { status: "accepted" });
    const future = stamp(Date.now() + 86_400_000);
    await ok(as(owner), "PATCH", member(image, b), { expires_at: future });
    // c expired but not purged yet: its removal is its expiry (no actor), as the trigger says.
    const past = await expireDirectly(image, c);
    const rows = await env.DB.prepare(
      "SELECT member_id, created_at FROM image_members WHERE image_id = ?1 ORDER BY created_at, member_id",
    )
      .bind(image)
      .all<{ member_id: string }>();
    const before = (await trail(image)).length;
    const del = await ok(ADMIN, "DELETE", `/v2/images/${image}`);
    expect(del.status).toBe(204);
    const records = (await trail(image)).slice(before);
    const root = { project_id: ADMIN.project as string, user_id: "root" };
    const want: Record<string, unknown> = {
      [a]: rec({
        action: "image-delete",
        image_id: image,
        image_owner: owner,
        member_id: a,
        status: "accepted",
        expires_at: null,
        actor: root,
        request_id: del.requestId,
      }),
      [b]: rec({
        action: "image-delete",
        image_id: image,
        image_owner: owner,
        member_id: b,
        status: "pending",
        expires_at: future,
        actor: root,
        request_id: del.requestId,
      }),
      [c]: rec({
        action: "expire",
        image_id: image,
        image_owner: owner,
        member_id: c,
        status: "pending",
        expires_at: past,
        actor: null,
        request_id: null,
      }),
    };
    // In the memberships' order (created_at, member_id), one each, nothing else.
    expect(records).toStrictEqual(rows.results.map((r) => want[r.member_id]));
    expect(await liveRows(image)).toStrictEqual([]);
  });

  it("DELETE /v2/images/{id} by its owner: image-delete records with the owner as actor; no members, no record", async () => {
    const owner = project("owner");
    const m = project("member");
    const image = await createImage(owner);
    const lonely = await createImage(owner);
    await ok(as(owner), "POST", members(image), { member_id: m });
    const del = await ok(as(owner, "olga"), "DELETE", `/v2/images/${image}`);
    await ok(as(owner), "DELETE", `/v2/images/${lonely}`);
    expect((await trail(image)).slice(1)).toStrictEqual([
      rec({
        action: "image-delete",
        image_id: image,
        image_owner: owner,
        member_id: m,
        status: "pending",
        expires_at: null,
        actor: { project_id: owner, user_id: "olga" },
        request_id: del.requestId,
      }),
    ]);
    expect(await trail(lonely)).toStrictEqual([]);
  });
});

describe("who sees which records", () => {
  it("a project sees records where it is the member or owned the image; a stranger none; an admin all", async () => {
    const owner = project("owner");
    const [m1, m2] = [project("m1"), project("m2")];
    const stranger = project("stranger");
    const image = await createImage(owner);
    await ok(as(owner), "POST", members(image), { member_id: m1 });
    await ok(as(owner), "POST", members(image), { member_id: m2 });
    // The owner as a member of its own image: seen once, not twice.
    await ok(as(owner), "POST", members(image), { member_id: owner });
    await ok(as(m1), "PUT", member(image, m1), { status: "accepted" });
    await ok(as(m2), "PUT", member(image, m2), { status: "rejected" });
    const all = await trail(image);
    expect(all.map((r) => [r.action, r.member_id])).toEqual([
      ["create", m1],
      ["create", m2],
      ["create", owner],
      ["update", m1],
      ["update", m2],
    ]);
    const newestFirst = [...all].reverse();
    expect((await list(as(owner))).events).toStrictEqual(newestFirst);
    expect((await list(as(m1))).events).toStrictEqual(newestFirst.filter((r) => r.member_id === m1));
    expect((await list(as(m2))).events).toStrictEqual(newestFirst.filter((r) => r.member_id === m2));
    expect((await list(as(stranger))).events).toStrictEqual([]);
    expect((await list(as(stranger), `?image_id=${image}`)).events).toStrictEqual([]);
    expect((await list(as(stranger), `?member_id=${m1}`)).events).toStrictEqual([]);
    // A reader (no member role) reads too: get_member_events is admin or reader.
    expect((await list(as(m1, "u", ["reader"]))).events).toHaveLength(2);

    // Records outlive the image.
    const del = await ok(as(owner), "DELETE", `/v2/images/${image}`);
    const m1Now = (await list(as(m1))).events;
    expect(m1Now.map((r) => [r.action, r.request_id])).toEqual([
      ["image-delete", del.requestId],
      ["update", all[3]?.request_id],
      ["create", all[0]?.request_id],
    ]);
    expect((await list(as(owner))).events).toHaveLength(all.length + 3);
  });

  it("records keep the owner at the time: after an owner change the old owner keeps the old ones, the new owner gets only the new", async () => {
    const oldOwner = project("old");
    const newOwner = project("new");
    const m = project("member");
    const image = await createImage(oldOwner);
    const add = await ok(as(oldOwner), "POST", members(image), { member_id: m });
    const patched = await answer(
      call("PATCH", `/v2/images/${image}`, {
        who: ADMIN,
        body: [{ op: "replace", path: "/owner", value: newOwner }],
        headers: {
          "Content-Type": "application/openstack-images-v2.1-json-patch",
        },
      }),
    );
    expect(patched.status, patched.text).toBe(200);
    expect(patched.json.owner).toBe(newOwner);
    const put = await ok(as(m), "PUT", member(image, m), { status: "accepted" });

    const records = await trail(image);
    expect(records.map((r) => [r.action, r.image_owner, r.request_id])).toEqual([
      ["create", oldOwner, add.requestId],
      ["update", newOwner, put.requestId],
    ]);
    const [create, update] = records;
    expect((await list(as(oldOwner))).events).toStrictEqual([create]);
    expect((await list(as(newOwner))).events).toStrictEqual([update]);
    expect((await list(as(m))).events).toStrictEqual([update, create]);
  });
});

describe("listing: order, filters, pages", () => {
  /** Records inserted directly with chosen times, for an image nobody else uses. */
  async function seed(image: string, owner: string, rows: [string, string, string][]) {
    for (const [at, action, m] of rows) {
      await env.DB.prepare(
        `INSERT INTO member_events (at, action, image_id, image_owner, member_id, status, expires_at,
           actor_project, actor_user, request_id)
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', NULL, ?4, 'seeded', 'req-seeded')`,
      )
        .bind(at, action, image, owner, m)
        .run();
    }
  }

  it("filters image_id (any case), member_id, action, since, combined", async () => {
    const owner = project("owner");
    const [m1, m2] = [project("m1"), project("m2")];
    const i1 = await createImage(owner);
    const i2 = await createImage(owner);
    for (const i of [i1, i2])
      for (const m of [m1, m2]) await ok(as(owner), "POST", members(i), { member_id: m });
    await ok(as(m1), "PUT", member(i1, m1), { status: "accepted" });
    await ok(as(owner), "DELETE", member(i2, m2));
    const all = (await list(as(owner))).events;
    expect(all).toHaveLength(6);

    const pick = (f: (r: Rec) => boolean) => all.filter(f);
    expect((await list(as(owner), `?image_id=${i1}`)).events).toStrictEqual(pick((r) => r.image_id === i1));
    expect((await list(as(owner), `?image_id=${i1.toUpperCase()}`)).events).toStrictEqual(
      pick((r) => r.image_id === i1),
    );
    expect((await list(as(owner), `?member_id=${m2}`)).events).toStrictEqual(pick((r) => r.member_id === m2));
    // member_id is compared exactly.
    expect((await list(as(owner), `?member_id=${m2.toUpperCase()}`)).events).toStrictEqual([]);
    expect((await list(as(owner), "?action=create")).events).toStrictEqual(
      pick((r) => r.action === "create"),
    );
    expect((await list(as(owner), "?action=update")).events).toStrictEqual(
      pick((r) => r.action === "update"),
    );
    expect((await list(as(owner), "?action=delete")).events).toStrictEqual(
      pick((r) => r.action === "delete"),
    );
    expect((await list(as(owner), "?action=expire")).events).toStrictEqual([]);
    expect((await list(as(owner), `?image_id=${i2}&member_id=${m2}&action=delete`)).events).toStrictEqual(
      pick((r) => r.image_id === i2 && r.member_id === m2 && r.action === "delete"),
    );
    // The member's view is filtered within what it may see.
    expect((await list(as(m1), `?image_id=${i1}`)).events).toStrictEqual(
      pick((r) => r.image_id === i1 && r.member_id === m1),
    );
    expect((await list(as(m1), `?member_id=${m2}`)).events).toStrictEqual([]);
  });

  it("since keeps records at or after it (second precision, inclusive)", async () => {
    const owner = project("owner");
    const image = crypto.randomUUID();
    await seed(image, owner, [
      ["2020-01-01T00:00:00Z", "create", "a"],
      ["2020-01-01T23:59:59Z", "update", "a"],
      ["2020-01-02T00:00:00Z", "update", "a"],
      ["2020-01-02T00:00:01Z", "delete", "a"],
      ["2021-06-30T12:00:00Z", "image-delete", "b"],
    ]);
    const ats = async (q: string) => (await list(ADMIN, `?image_id=${image}${q}`)).events.map((e) => e.at);
    expect(await ats("")).toEqual([
      "2021-06-30T12:00:00Z",
      "2020-01-02T00:00:01Z",
      "2020-01-02T00:00:00Z",
      "2020-01-01T23:59:59Z",
      "2020-01-01T00:00:00Z",
    ]);
    expect(await ats("&since=2020-01-02T00:00:00Z")).toEqual([
      "2021-06-30T12:00:00Z",
      "2020-01-02T00:00:01Z",
      "2020-01-02T00:00:00Z",
    ]);
    expect(await ats("&since=2021-06-30T12:00:01Z")).toEqual([]);
    expect(await ats("&since=1970-01-01T00:00:00Z")).toHaveLength(5);
    expect(await ats("&since=2020-01-01T00:00:00Z&action=update")).toEqual([
      "2020-01-02T00:00:00Z",
      "2020-01-01T23:59:59Z",
    ]);
    // The owner (as recorded) sees them too; a seeded record's fields come back as stored.
    const [newest] = (await list(as(owner), `?image_id=${image}&limit=1`)).events;
    expect(newest).toStrictEqual({
      id: expect.any(Number),
      at: "2021-06-30T12:00:00Z",
      action: "image-delete",
      image_id: image,
      image_owner: owner,
      member_id: "b",
      status: "pending",
      expires_at: null,
      actor: { project_id: owner, user_id: "seeded" },
      request_id: "req-seeded",
    });
  });

  it("an actor with a user but no project is shown as such; ownerless images' records reach only the member and admins", async () => {
    const image = crypto.randomUUID();
    const m = project("member");
    await env.DB.prepare(
      `INSERT INTO member_events (at, action, image_id, image_owner, member_id, status, expires_at,
         actor_project, actor_user, request_id)
       VALUES ('2024-01-01T00:00:00Z', 'create', ?1, NULL, ?2, 'pending', '2030-01-01T00:00:00Z', NULL, 'sys', 'req-x')`,
    )
      .bind(image, m)
      .run();
    const want = {
      id: expect.any(Number),
      at: "2024-01-01T00:00:00Z",
      action: "create",
      image_id: image,
      image_owner: null,
      member_id: m,
      status: "pending",
      expires_at: "2030-01-01T00:00:00Z",
      actor: { project_id: null, user_id: "sys" },
      request_id: "req-x",
    };
    expect((await list(ADMIN, `?image_id=${image}`)).events).toStrictEqual([want]);
    expect((await list(as(m))).events).toStrictEqual([want]);
    expect((await list(as(project("stranger")), `?image_id=${image}`)).events).toStrictEqual([]);
  });

  it("pages of limit=2 through next collect every record once, newest first (admin and a project)", async () => {
    const owner = project("owner");
    const [m1, m2, m3] = [project("m1"), project("m2"), project("m3")];
    const image = await createImage(owner);
    const other = await createImage(project("other"));
    for (const m of [m1, m2, m3]) await ok(as(owner), "POST", members(image), { member_id: m });
    await ok(as(m1), "PUT", member(image, m1), { status: "accepted" });
    // m1 is also a member elsewhere: its view merges both kinds of record.
    await ok(ADMIN, "POST", members(other), { member_id: m1 });
    await ok(as(owner), "DELETE", member(image, m2));
    await ok(as(owner), "POST", members(image), { member_id: owner });

    const walk = async (w: Who, first: string) => {
      const seen: Rec[] = [];
      let path: string | undefined = first;
      let pages = 0;
      while (path !== undefined) {
        const page = await list(w, path.slice("/v2/member-events".length));
        expect(page.events.length).toBeLessThanOrEqual(2);
        if (page.next !== undefined) {
          expect(page.events).toHaveLength(2);
          const marker = new URL(page.next, BASE).searchParams.get("marker");
          expect(marker).toMatch(/^[A-Za-z0-9_-]+$/);
        }
        seen.push(...page.events);
        path = page.next;
        if (++pages > 50) throw new Error("endless pages");
      }
      return { seen, pages };
    };

    const everything = await trail(image, other);
    expect(everything).toHaveLength(7);
    const admin = await walk(ADMIN, `/v2/member-events?image_id=${image}&limit=2`);
    expect(admin.seen).toStrictEqual([...everything].filter((r) => r.image_id === image).reverse());
    // 6 records: 3 full pages, the third with a next that leads to an empty page without one.
    expect(admin.pages).toBe(4);

    const ownerWalk = await walk(as(owner), "/v2/member-events?limit=2");
    expect(ownerWalk.seen).toStrictEqual([...everything].filter((r) => r.image_id === image).reverse());
    const m1Walk = await walk(as(m1), "/v2/member-events?limit=2");
    expect(m1Walk.seen).toStrictEqual([...everything].filter((r) => r.member_id === m1).reverse());
    expect(m1Walk.seen.map((r) => r.image_id)).toEqual([other, image, image]);
    // 3 records: a full page, then a short one without next.
    expect(m1Walk.pages).toBe(2);
  });

  it("first and next links keep the query, next adds the marker of the page's last record", async () => {
    const owner = project("owner");
    const image = await createImage(owner);
    for (const m of ["x1", "x2", "x3"]) await ok(as(owner), "POST", members(image), { member_id: m });
    const page = await list(as(owner), `?image_id=${image}&limit=2&action=create`);
    const last = page.events[1] as Rec;
    const marker = btoa(JSON.stringify([last.id]))
      .replace(/\+/g, "-")
      .replace(/\//g, "_")
      .replace(/=+$/, "");
    expect(page.first).toBe(`/v2/member-events?image_id=${image}&limit=2&action=create`);
    expect(page.next).toBe(`/v2/member-events?image_id=${image}&limit=2&action=create&marker=${marker}`);
    const second = await list(as(owner), `?image_id=${image}&limit=2&action=create&marker=${marker}`);
    expect(second.first).toBe(page.first);
    expect(second.next).toBeUndefined();
    expect(second.events.map((e) => e.member_id)).toEqual(["x1"]);
    // Default limit 25: a short page has no next.
    const whole = await list(as(owner), `?image_id=${image}`);
    expect(whole.first).toBe(`/v2/member-events?image_id=${image}`);
    expect(whole.next).toBeUndefined();
    expect(whole.events).toHaveLength(3);
    const bare = await list(as(project("nobody")));
    expect(bare).toStrictEqual({
      events: [],
      first: "/v2/member-events",
      schema: "/v2/schemas/member-events",
    });
  });

  it("bad queries: 400 with the exact message, and nothing else", async () => {
    const w = as(project("p"));
    const bad = async (q: string, message: string) =>
      expectError(await call("GET", `/v2/member-events${q}`, { who: w }), 400, message);
    await bad("?action=x", "Invalid action value: x");
    await bad("?action=CREATE", "Invalid action value: CREATE");
    await bad("?action=", "Invalid action value: ");
    for (const since of [
      "2020-01-01",
      "2020-01-01T00:00:00",
      "2020-01-01T00:00:00.000Z",
      "2020-01-01T00:00:00+00:00",
      "2020-02-30T00:00:00Z",
      "2020-01-01T24:00:00Z",
      "2020-1-01T00:00:00Z",
      "yesterday",
      "",
    ]) {
      await bad(`?since=${encodeURIComponent(since)}`, SINCE_MESSAGE);
    }
    await bad("?foo=1", "Unknown filter: foo.");
    await bad("?owner=x", "Unknown filter: owner.");
    await bad("?status=pending", "Unknown filter: status.");
    await bad("?image_id=a&image_id=b", "Parameter image_id must be given once.");
    await bad("?member_id=a&member_id=b", "Parameter member_id must be given once.");
    await bad("?limit=x", "limit param must be an integer");
    await bad("?limit=-1", "limit param must be an integer");
    for (const marker of [
      "garbage!",
      "x",
      btoa(JSON.stringify(["1"])).replace(/=+$/, ""),
      btoa(JSON.stringify([1, 2])).replace(/=+$/, ""),
      btoa(JSON.stringify([1.5])).replace(/=+$/, ""),
      btoa(JSON.stringify({ id: 1 })).replace(/=+$/, ""),
      btoa(JSON.stringify(["2024-01-01T00:00:00Z", "a", "b"])).replace(/=+$/, ""),
    ]) {
      await bad(`?marker=${encodeURIComponent(marker)}`, "Invalid marker.");
    }
  });

  it("a since in the form but no real time (second 60, month 13, day 32, hour 25…) is 400, not 500", async () => {
    const w = as(project("p"));
    for (const since of [
      "2020-01-01T00:00:60Z",
      "2020-13-01T00:00:00Z",
      "2020-00-10T00:00:00Z",
      "2020-01-32T00:00:00Z",
      "2020-01-01T25:00:00Z",
      "2020-01-01T00:61:00Z",
    ]) {
      const res = await call("GET", `/v2/member-events?since=${since}`, { who: w });
      expect(res.status, `since=${since}`).toBe(400);
      await expectError(res, 400, SINCE_MESSAGE);
    }
  });

  it("valid since forms and a marker of a deleted id work", async () => {
    const w = as(project("p"));
    expect((await list(w, "?since=2024-02-29T23:59:59Z")).events).toEqual([]);
    const marker = btoa(JSON.stringify([1])).replace(/=+$/, "");
    expect((await list(ADMIN, `?marker=${marker}&limit=5`)).events).toEqual([]);
  });
});

describe("get_member_events rule and the route's conventions", () => {
  it("needs admin or reader (secure-rbac): a role-less or foo caller gets 403", async () => {
    const p = project("p");
    for (const roles of [["foo"], []]) {
      await expectError(
        await call("GET", "/v2/member-events", { who: { project: p, roles } }),
        403,
        "You are not authorized to complete get_member_events action.",
      );
    }
    expect((await list({ project: p, roles: ["reader"] })).events).toEqual([]);
    expect((await list({ project: p, roles: ["admin"] })).schema).toBe("/v2/schemas/member-events");
  });

  it("an override of get_member_events applies, to admins too", async () => {
    const vars = { POLICY_OVERRIDES: 'get_member_events: "!"' };
    for (const w of [ADMIN, as(project("p"))]) {
      await expectError(
        await call("GET", "/v2/member-events", { who: w, vars }),
        403,
        "You are not authorized to complete get_member_events action.",
      );
    }
    const onlyAdmins = { POLICY_OVERRIDES: 'get_member_events: "role:admin"' };
    await expectError(
      await call("GET", "/v2/member-events", { who: as(project("p")), vars: onlyAdmins }),
      403,
      "You are not authorized to complete get_member_events action.",
    );
    expect((await list(ADMIN, "?limit=1", onlyAdmins)).events.length).toBeLessThanOrEqual(1);
  });

  it("legacy lets any project read (its own records), whatever its roles", async () => {
    const owner = project("owner");
    const m = project("m");
    const image = await createImage(owner);
    await ok(as(owner), "POST", members(image), { member_id: m });
    for (const roles of [["foo"], []]) {
      const page = await list({ project: m, roles }, "", LEGACY);
      expect(page.events.map((e) => [e.action, e.member_id])).toEqual([["create", m]]);
    }
  });

  it("401 without a project; 405 for other methods", async () => {
    await expectError(
      await call("GET", "/v2/member-events", { who: { project: null, roles: ["admin"] } }),
      401,
      "This server could not verify that you are authorized to access the document you requested.",
    );
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      const res = await call(method, "/v2/member-events", { who: as(project("p")) });
      expect(res.status, method).toBe(405);
      expect(res.headers.get("Allow")).toBe("GET");
    }
  });

  it("/v2/schemas/member-events is served and describes the record", async () => {
    const res = await call("GET", "/v2/schemas/member-events", { who: as(project("p")) });
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toBe("application/json");
    const doc = await res.json<{
      name: string;
      properties: {
        events: { items: { properties: Record<string, { enum?: string[] }>; required: string[] } };
      };
    }>();
    expect(doc.name).toBe("member-events");
    expect(Object.keys(doc.properties)).toEqual(["events", "first", "next", "schema"]);
    expect(doc.properties.events.items.required).toEqual(RECORD_KEYS);
    expect(Object.keys(doc.properties.events.items.properties)).toEqual(RECORD_KEYS);
    expect(doc.properties.events.items.properties.action?.enum).toEqual([
      "create",
      "update",
      "expire",
      "delete",
      "image-delete",
    ]);
  });
});

describe("refused changes write no record", () => {
  it("403, 404, 409, 413, 400 adds; refused PUT, PATCH, DELETE, bulk and image delete change nothing", async () => {
    const owner = project("owner");
    const m = project("member");
    const stranger = project("stranger");
    const image = await createImage(owner);
    const pub = await createImage(ADMIN.project as string, { visibility: "public" }, ["admin", "member"]);
    const hidden = await createImage(stranger, { visibility: "private" });
    const protectedImage = await createImage(owner, { protected: true });
    await ok(as(owner), "POST", members(image), { member_id: m });
    await ok(as(owner), "POST", members(protectedImage), { member_id: m });
    const expired = project("expired");
    await ok(as(owner), "POST", members(image), { member_id: expired });
    await expireDirectly(image, expired);
    const before = await dump();

    const refusals: [Answer, number][] = [
      [await answer(call("POST", members(image), { who: as(owner), body: { member_id: m } })), 409],
      [await answer(call("POST", members(image), { who: as(m), body: { member_id: "x" } })), 403],
      [await answer(call("POST", members(hidden), { who: as(owner), body: { member_id: "x" } })), 404],
      [
        await answer(
          call("POST", members(pub), { who: as(ADMIN.project as string), body: { member_id: "x" } }),
        ),
        403,
      ],
      [await answer(call("POST", members(image), { who: as(owner), body: { member_id: "" } })), 400],
      [
        await answer(
          call("POST", members(image), {
            who: as(owner),
            body: { member_id: "x", expires_at: "2000-01-01T00:00:00Z" },
          }),
        ),
        400,
      ],
      [
        await answer(
          call("POST", members(image), { who: as(owner, "u", ["reader"]), body: { member_id: "x" } }),
        ),
        403,
      ],
      [
        await answer(
          call("POST", members(image), {
            who: as(owner),
            body: { member_id: "x" },
            vars: {
              IMAGE_MEMBER_QUOTA: "1",
            },
          }),
        ),
        413,
      ],
      // An expired member's re-add over quota: its expired row is not replaced either.
      [
        await answer(
          call("POST", members(image), {
            who: as(owner),
            body: { member_id: expired },
            vars: {
              IMAGE_MEMBER_QUOTA: "1",
            },
          }),
        ),
        413,
      ],
      [await answer(call("PUT", member(image, m), { who: as(owner), body: { status: "accepted" } })), 403],
      [await answer(call("PUT", member(image, m), { who: as(m), body: { status: "bogus" } })), 400],
      [await answer(call("PUT", member(image, "ghost"), { who: as(m), body: { status: "accepted" } })), 404],
      [
        await answer(call("PUT", member(image, expired), { who: as(expired), body: { status: "accepted" } })),
        404,
      ],
      [await answer(call("PATCH", member(image, m), { who: as(m), body: { expires_at: null } })), 403],
      [await answer(call("PATCH", member(image, m), { who: as(owner), body: { expires_at: "soon" } })), 400],
      [
        await answer(call("PATCH", member(image, expired), { who: as(owner), body: { expires_at: null } })),
        404,
      ],
      [await answer(call("DELETE", member(image, m), { who: as(m) })), 403],
      [await answer(call("DELETE", member(image, "ghost"), { who: as(owner) })), 404],
      [await answer(call("DELETE", member(image, expired), { who: as(owner) })), 404],
      [
        await answer(
          call("POST", "/v2/shares", {
            who: as(owner),
            body: { images: [image, hidden], members: ["y", "z"] },
          }),
        ),
        404,
      ],
      [
        await answer(
          call("POST", "/v2/shares", { who: as(owner), body: { images: [image, pub], members: ["y"] } }),
        ),
        403,
      ],
      [
        await answer(
          call("POST", "/v2/shares", {
            who: as(owner),
            body: { images: [image], members: ["y", "z"] },
            vars: {
              IMAGE_MEMBER_QUOTA: "2",
            },
          }),
        ),
        413,
      ],
      [await answer(call("DELETE", `/v2/images/${protectedImage}`, { who: as(owner) })), 403],
      [await answer(call("DELETE", `/v2/images/${image}`, { who: as(m) })), 403],
    ];
    for (const [r, status] of refusals) expect(r.status, r.text).toBe(status);
    expect(await dump()).toBe(before);
    expect(await contextRows()).toBe(0);
  });
});

/** A D1 whose batches run with the last statement (change_context's cleanup) failing. */
function failingCleanup(real: D1Database) {
  let batches = 0;
  // The binding and its sessions (each request runs in one, docs/reference.md §13) fail alike.
  const wrap = <B extends D1Database | D1DatabaseSession>(binding: B): B =>
    new Proxy(binding, {
      get(target, key) {
        if (key === "batch") {
          return (statements: D1PreparedStatement[]) => {
            batches++;
            return target.batch([
              ...statements.slice(0, -1),
              target.prepare("SELECT * FROM fault_injection_no_such_table"),
            ]);
          };
        }
        if (key === "withSession" && "withSession" in target) {
          return (constraint?: string) => wrap(target.withSession(constraint));
        }
        const value: unknown = Reflect.get(target, key, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  return { db: wrap(real), batches: () => batches };
}

describe("a record never exists without its change, nor a change without its record", () => {
  interface Change {
    name: string;
    prepare(): Promise<{ who: Who; method: string; path: string; body?: unknown; success: number }>;
  }
  const owner = project("owner");
  const m = project("member");
  const fixture = async () => {
    const image = await createImage(owner);
    await ok(as(owner), "POST", members(image), { member_id: m });
    return image;
  };
  const CHANGES: Change[] = [
    {
      name: "POST member",
      prepare: async () => ({
        who: as(owner),
        method: "POST",
        path: members(await fixture()),
        body: { member_id: project("new") },
        success: 200,
      }),
    },
    {
      name: "POST member replacing an expired row",
      prepare: async () => {
        const image = await fixture();
        await expireDirectly(image, m);
        return { who: as(owner), method: "POST", path: members(image), body: { member_id: m }, success: 200 };
      },
    },
    {
      name: "PUT status",
      prepare: async () => ({
        who: as(m),
        method: "PUT",
        path: member(await fixture(), m),
        body: { status: "accepted" },
        success: 200,
      }),
    },
    {
      name: "PATCH expiry",
      prepare: async () => ({
        who: as(owner),
        method: "PATCH",
        path: member(await fixture(), m),
        body: { expires_at: stamp(Date.now() + 86_400_000) },
        success: 200,
      }),
    },
    {
      name: "DELETE member",
      prepare: async () => ({
        who: as(owner),
        method: "DELETE",
        path: member(await fixture(), m),
        success: 204,
      }),
    },
    {
      name: "POST /v2/shares",
      prepare: async () => {
        const a = await fixture();
        const b = await fixture();
        return {
          who: as(owner),
          method: "POST",
          path: "/v2/shares",
          body: { images: [a, b], members: [m, project("n1"), project("n2")] },
          success: 200,
        };
      },
    },
    {
      name: "DELETE image",
      prepare: async () => ({
        who: as(owner),
        method: "DELETE",
        path: `/v2/images/${await fixture()}`,
        success: 204,
      }),
    },
  ];

  const sendChange = (
    r: { who: Who; method: string; path: string; body?: unknown },
    vars?: Partial<Cloudflare.Env>,
  ) => call(r.method, r.path, { who: r.who, body: r.body, vars });

  for (const change of CHANGES) {
    it(`${change.name}: a fault inside its transaction leaves neither change nor record (503)`, async () => {
      const r = await change.prepare();
      const faults = [
        () => {
          const f = faultyD1(env.DB, 1, { kind: "abort-in-transaction" });
          return { db: f.db, hit: () => f.failed() === "batch (rolled back)" };
        },
        () => {
          const f = failingCleanup(env.DB);
          return { db: f.db, hit: () => f.batches() === 1 };
        },
      ];
      const logged: unknown[] = [];
      const original = console.error;
      console.error = (...args: unknown[]) => logged.push(args);
      try {
        for (const make of faults) {
          const before = await dump();
          const fault = make();
          const res = await sendChange(r, { DB: fault.db });
          expect(fault.hit()).toBe(true);
          await expectError(res, 503, UNAVAILABLE_TEXT);
          expect(await dump()).toBe(before);
          expect(await contextRows()).toBe(0);
        }
      } finally {
        console.error = original;
      }
      expect(logged.length).toBeGreaterThan(0);
      // The same request without a fault succeeds and writes its records.
      const before =
        (await env.DB.prepare("SELECT COUNT(*) AS n FROM member_events").first<{ n: number }>())?.n ?? 0;
      const res = await sendChange(r);
      expect(res.status, await res.clone().text()).toBe(r.success);
      const after =
        (await env.DB.prepare("SELECT COUNT(*) AS n FROM member_events").first<{ n: number }>())?.n ?? 0;
      expect(after).toBeGreaterThan(before);
    });
  }

  /** A small deterministic PRNG, so a failing mix can be replayed from its seed. */
  function prng(seed: number) {
    let s = seed >>> 0;
    return () => {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  for (const seed of [1, 2, 3, 42]) {
    it(`after a random mix of operations (seed ${seed}), records replay to the memberships exactly`, async () => {
      const random = prng(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
      const o = project("owner");
      const ms = [project("m0"), project("m1"), project("m2"), project("m3")];
      const images = [await createImage(o), await createImage(o, { visibility: "private" })];
      /** Records each answered request must have written, by request id. */
      const expected: [string, number, string][] = [];
      const silence = console.error;
      console.error = () => {};
      try {
        for (let n = 0; n < 60; n++) {
          const image = pick(images);
          const m = pick(ms);
          const kind = pick(["add", "add", "put", "patch", "delete", "bulk", "expire", "owner-put"] as const);
          let r: { who: Who; method: string; path: string; body?: unknown } | null = null;
          switch (kind) {
            case "add":
              r = {
                who: as(o),
                method: "POST",
                path: members(image),
                body:
                  random() < 0.3
                    ? { member_id: m, expires_at: stamp(Date.now() + 86_400_000) }
                    : { member_id: m },
              };
              break;
            case "owner-put":
              r = { who: as(o), method: "PUT", path: member(image, m), body: { status: "accepted" } };
              break;
            case "put":
              r = {
                who: as(m),
                method: "PUT",
                path: member(image, m),
                body: { status: pick(["pending", "accepted", "rejected"]) },
              };
              break;
            case "patch":
              r = {
                who: as(o),
                method: "PATCH",
                path: member(image, m),
                body: { expires_at: random() < 0.5 ? null : stamp(Date.now() + 3_600_000) },
              };
              break;
            case "delete":
              r = { who: as(o), method: "DELETE", path: member(image, m) };
              break;
            case "bulk":
              r = {
                who: as(o),
                method: "POST",
                path: "/v2/shares",
                body: { images: random() < 0.5 ? [image] : images, members: [m, pick(ms)] },
              };
              break;
            case "expire":
              await env.DB.prepare(
                "UPDATE image_members SET expires_at = ?3 WHERE image_id = ?1 AND member_id = ?2",
              )
                .bind(image, m, stamp(Date.now() - 60_000))
                .run();
              continue;
          }
          const faulted = random() < 0.2;
          const before = faulted ? await dump() : "";
          const res = await sendChange(
            r,
            faulted ? { DB: faultyD1(env.DB, 1, { kind: "abort-in-transaction" }).db } : undefined,
          );
          const text = await res.text();
          const id = res.headers.get("x-openstack-request-id") as string;
          if (faulted) {
            // A duplicate fails on its own, inside the batch, before the injected fault.
            expect([503, 409], text).toContain(res.status);
            expect(await dump(), `seed ${seed} op ${n}`).toBe(before);
          }
          let count = 0;
          if (res.status < 300) {
            count =
              r.path === "/v2/shares"
                ? JSON.parse(text).shares.filter((s: { created: boolean }) => s.created).length
                : 1;
          }
          expected.push([id, count, `${n} ${kind} ${res.status}`]);
        }
      } finally {
        console.error = silence;
      }

      type Stored = {
        action: string;
        image_id: string;
        member_id: string;
        status: string;
        expires_at: string | null;
        request_id: string | null;
        actor_project: string | null;
      };
      const stored = async () =>
        (
          await env.DB.prepare("SELECT * FROM member_events WHERE image_id IN (?1, ?2) ORDER BY id")
            .bind(images[0], images[1])
            .all<Stored>()
        ).results;
      const records = await stored();
      for (const [id, count, what] of expected) {
        expect(records.filter((e) => e.request_id === id).length, `seed ${seed}: ${what}`).toBe(count);
      }

      // Replay: each pair's records form a valid history ending in the row as it is.
      const replay = (
        records: Stored[],
        rows: { image_id: string; member_id: string; status: string; expires_at: string | null }[],
      ) => {
        const state = new Map<string, { status: string; expires_at: string | null } | null>();
        for (const e of records) {
          const key = `${e.image_id} ${e.member_id}`;
          const live = state.get(key) ?? null;
          if (e.action === "create") {
            expect(live, `seed ${seed}: create of a live pair ${key}`).toBeNull();
            state.set(key, { status: e.status, expires_at: e.expires_at });
          } else if (e.action === "update") {
            expect(live, `seed ${seed}: update of a missing pair ${key}`).not.toBeNull();
            state.set(key, { status: e.status, expires_at: e.expires_at });
          } else {
            expect(live, `seed ${seed}: ${e.action} of a missing pair ${key}`).toStrictEqual({
              status: e.status,
              expires_at: e.expires_at,
            });
            if (e.action === "expire") expect(e.actor_project).toBeNull();
            state.set(key, null);
          }
        }
        const now = new Map(
          rows.map((r) => [`${r.image_id} ${r.member_id}`, { status: r.status, expires_at: r.expires_at }]),
        );
        for (const [key, live] of state)
          expect(now.get(key) ?? null, `seed ${seed}: ${key}`).toStrictEqual(live);
        for (const key of now.keys()) expect(state.has(key), `seed ${seed}: ${key} has no record`).toBe(true);
      };
      const rowsNow = async () =>
        (
          await env.DB.prepare(
            "SELECT image_id, member_id, status, expires_at FROM image_members WHERE image_id IN (?1, ?2)",
          )
            .bind(images[0], images[1])
            .all<{ image_id: string; member_id: string; status: string; expires_at: string | null }>()
        ).results;
      replay(records, await rowsNow());
      expect(await contextRows()).toBe(0);

      // Deleting the images ends every history: their records replay to no membership at all.
      const memberships = (await rowsNow()).length;
      for (const image of images) await ok(as(o), "DELETE", `/v2/images/${image}`);
      const final = await stored();
      expect(final.length - records.length).toBe(memberships);
      expect(
        final.slice(records.length).every((e) => e.action === "image-delete" || e.action === "expire"),
      ).toBe(true);
      replay(final, await rowsNow());
      expect(await rowsNow()).toEqual([]);
    });
  }
});
