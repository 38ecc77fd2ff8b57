import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cacheKeyFor, ExpiringLru, isBookmark, newest, REMEMBER_SECONDS } from "../../src/db/session";
import { call, createImage, project, type Who } from "../helpers";

/**
 * docs/reference.md §13: every /v2 request runs in one D1 session that starts from the newest of the client's
 * x-d1-bookmark and the bookmark remembered for its project, else first-unconstrained; writes
 * remember their bookmark for the caller's project and the members they concern.
 */

const B = (n: number) => `${n.toString(16).padStart(8, "0")}-00000001-00000000-${"a".repeat(32)}`;

describe("bookmarks, pure (docs/reference.md §13)", () => {
  it.each([
    [B(1), true],
    ["00000085-0000024c-00004c6d-8e61117bf38d7adb71b934ebbf891683", true],
    ["first-unconstrained", false],
    ["first-primary", false],
    ["", false],
    [`${B(1)} `, false],
    [B(1).toUpperCase(), false],
    [`${B(1)}0`, false],
    ["00000085-0000024c-00004c6d", false],
    ["'; DROP TABLE images; --", false],
  ])("isBookmark(%j) is %s", (value, ok) => {
    expect(isBookmark(value)).toBe(ok);
  });

  it("newest keeps the greatest well-formed bookmark and ignores the rest", () => {
    expect(newest(B(1), B(2))).toBe(B(2));
    expect(newest(B(0x10), B(0x9))).toBe(B(0x10));
    expect(newest(null, undefined, "junk", B(3))).toBe(B(3));
    expect(newest("junk", "first-primary")).toBeNull();
    expect(newest()).toBeNull();
  });

  it("the isolate's memory expires entries and keeps at most its capacity, dropping the oldest set", () => {
    const lru = new ExpiringLru<string>(2, 1000);
    lru.set("a", "1", 0);
    lru.set("b", "2", 10);
    expect(lru.get("a", 999)).toBe("1");
    expect(lru.get("a", 1000)).toBeUndefined();
    lru.set("a", "1", 1000);
    lru.set("c", "3", 1001); // b was set longest ago
    expect(lru.size).toBe(2);
    expect(lru.get("b", 1002)).toBeUndefined();
    expect(lru.get("a", 1002)).toBe("1");
    expect(lru.get("c", 1002)).toBe("3");
  });
});

/** env.DB recording each session the app opens and what it started from. */
function recordingDb() {
  const opened: (string | undefined)[] = [];
  const db = new Proxy(env.DB, {
    get(target, key) {
      if (key === "withSession") {
        return (constraint?: string) => {
          opened.push(constraint);
          return target.withSession(constraint);
        };
      }
      const v: unknown = Reflect.get(target, key, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return { db, opened };
}

async function send(
  method: string,
  path: string,
  who: Who | undefined,
  opts: { body?: unknown; bookmark?: string } = {},
) {
  const rec = recordingDb();
  const headers: Record<string, string> =
    opts.bookmark === undefined ? {} : { "x-d1-bookmark": opts.bookmark };
  const res = await call(method, path, { who, body: opts.body, headers, vars: { DB: rec.db } });
  const text = await res.text();
  return { status: res.status, text, bookmark: res.headers.get("x-d1-bookmark"), opened: rec.opened };
}

const who = (p: string): Who => ({ project: p, roles: ["member", "reader"] });

async function cached(p: string): Promise<string | null> {
  const hit = await caches.default.match(await cacheKeyFor(p));
  return hit ? hit.text() : null;
}

describe("one D1 session per request, read-your-writes by project (docs/reference.md §13)", () => {
  it("a project with nothing remembered starts first-unconstrained and gets the session's bookmark back", async () => {
    const p = project();
    const r = await send("GET", "/v2/images", who(p));
    expect(r.status, r.text).toBe(200);
    expect(r.opened).toStrictEqual(["first-unconstrained"]);
    expect(isBookmark(r.bookmark)).toBe(true);
    // A read remembers nothing.
    expect(await cached(p)).toBeNull();
  });

  it("a write's bookmark is remembered for its project (isolate and cache) and starts its next request", async () => {
    const p = project();
    const w = await send("POST", "/v2/images", who(p), { body: { name: "x" } });
    expect(w.status, w.text).toBe(201);
    expect(w.opened).toStrictEqual(["first-unconstrained"]);
    expect(isBookmark(w.bookmark)).toBe(true);
    expect(await cached(p)).toBe(w.bookmark);
    const id = (JSON.parse(w.text) as { id: string }).id;

    const r = await send("GET", `/v2/images/${id}`, who(p));
    expect(r.status, r.text).toBe(200);
    expect(r.opened).toStrictEqual([w.bookmark]);
    expect(newest(r.bookmark, w.bookmark)).toBe(r.bookmark);
  });

  it("another project is not held to it", async () => {
    const p = project();
    const w = await send("POST", "/v2/images", who(p), { body: { name: "x" } });
    expect(w.status).toBe(201);
    const other = await send("GET", "/v2/images", who(project()));
    expect(other.opened).toStrictEqual(["first-unconstrained"]);
  });

  it("a member change is remembered for the member's project too, and so is a bulk share", async () => {
    const owner = project("owner");
    const member = project("member");
    const bulkMember = project("bulk");
    const image = await createImage(owner, { visibility: "shared" });
    const add = await send("POST", `/v2/images/${image}/members`, who(owner), { body: { member: member } });
    expect(add.status, add.text).toBe(200);
    expect(await cached(member)).toBe(add.bookmark);
    const seen = await send("GET", `/v2/images/${image}/members/${member}`, who(member));
    expect(seen.status, seen.text).toBe(200);
    expect(seen.opened).toStrictEqual([add.bookmark]);

    const bulk = await send("POST", "/v2/shares", who(owner), {
      body: { images: [image], members: [bulkMember] },
    });
    expect(bulk.status, bulk.text).toBe(200);
    expect(await cached(bulkMember)).toBe(bulk.bookmark);
    expect(await cached(owner)).toBe(bulk.bookmark);
  });

  it("a bookmark remembered by another isolate of the location (only in the cache) is used", async () => {
    const p = project();
    await caches.default.put(
      await cacheKeyFor(p),
      new Response(B(7), { headers: { "Cache-Control": "max-age=60" } }),
    );
    const r = await send("GET", "/v2/images", who(p));
    expect(r.opened).toStrictEqual([B(7)]);
    expect(REMEMBER_SECONDS).toBeGreaterThanOrEqual(60);
  });

  it("x-d1-bookmark: the newer of the sent and the remembered one starts the session", async () => {
    const p = project();
    const w = await send("POST", "/v2/images", who(p), { body: { name: "x" } });
    const older = B(0);
    const r1 = await send("GET", "/v2/images", who(p), { bookmark: older });
    expect(r1.opened).toStrictEqual([w.bookmark]);
    // A bookmark from the client newer than anything this database has seen: D1 waits for it
    // locally no more than it must, so take one the database really handed out.
    const later = await send("POST", "/v2/images", who(project()), { body: { name: "y" } });
    const r2 = await send("GET", "/v2/images", who(p), { bookmark: later.bookmark ?? "" });
    expect(r2.status, r2.text).toBe(200);
    expect(r2.opened).toStrictEqual([later.bookmark]);
  });

  it.each([
    "garbage",
    "first-primary",
    "first-unconstrained",
    `${B(1)}x`,
    "x".repeat(4096),
    "00000000-00000000-00000000-' OR 1=1 --",
  ])("a malformed x-d1-bookmark (%j) is ignored: no 5xx, not echoed", async (bad) => {
    const p = project();
    const r = await send("GET", "/v2/images", who(p), { bookmark: bad });
    expect(r.status, r.text).toBe(200);
    expect(r.opened).toStrictEqual(["first-unconstrained"]);
    expect(isBookmark(r.bookmark)).toBe(true);
    expect(r.bookmark).not.toBe(bad);
  });

  it("every /v2 response carries the header: a 401 echoes a well-formed bookmark it was sent", async () => {
    const r = await send("GET", "/v2/images", undefined, { bookmark: B(5) });
    expect(r.status).toBe(401);
    expect(r.opened).toStrictEqual([]);
    expect(r.bookmark).toBe(B(5));
    const none = await send("GET", "/v2/images", undefined);
    expect(none.bookmark).toBeNull();
    // Outside /v2 there is no session and no header.
    const versions = await call("GET", "/versions", { headers: { "x-d1-bookmark": B(5) } });
    expect(versions.headers.get("x-d1-bookmark")).toBeNull();
  });

  it("a refused write changed nothing and remembers nothing", async () => {
    const p = project();
    const r = await send("POST", "/v2/images/00000000-0000-4000-8000-000000000000/members", who(p), {
      body: { member: "m" },
    });
    expect(r.status).toBe(404);
    expect(r.opened).toStrictEqual(["first-unconstrained"]);
    expect(isBookmark(r.bookmark)).toBe(true);
    expect(await cached(p)).toBeNull();
  });
});
