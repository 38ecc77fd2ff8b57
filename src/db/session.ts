import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../env";
import { detailOf, log } from "../log";
import { guard } from "./guard";

/**
 * D1 read replicas with read-your-writes (docs/reference.md §13).
 *
 * Every /v2 request runs in one D1 session. It starts from the newest of the bookmark the client
 * sent (`x-d1-bookmark`) and the one remembered for the caller's project, else
 * `first-unconstrained` (the nearest replica answers). After a request that may have changed
 * data, the session's bookmark is remembered for the caller's project and for the projects whose
 * memberships it changed, so the next request of any of them — another CLI process, another
 * connection, another isolate of this location — reads at least that state.
 */

/** The header a client may send and gets back on every /v2 response. */
export const BOOKMARK_HEADER = "x-d1-bookmark";

/**
 * A bookmark as D1 hands them out (`00000085-0000024c-00004c6d-8e61…`, locally and on
 * Cloudflare). D1 accepts any string and fails the query on one it cannot read, so the shape is
 * checked here: a malformed header is ignored, never a 5xx.
 */
const BOOKMARK = /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}$/;

export const isBookmark = (value: string | null | undefined): value is string =>
  value !== null && value !== undefined && BOOKMARK.test(value);

/**
 * The later of two bookmarks. D1's fixed-width hex fields order as strings: its own session
 * client keeps the greater one by string comparison (workerd's D1DatabaseSession._updateBookmark).
 */
export function newest(...bookmarks: (string | null | undefined)[]): string | null {
  let best: string | null = null;
  for (const b of bookmarks) if (isBookmark(b) && (best === null || b > best)) best = b;
  return best;
}

/** How long a project's last bookmark is remembered: longer than any replica lag worth waiting. */
export const REMEMBER_SECONDS = 300;

/** A bounded map whose entries expire: the isolate's memory of recent bookmarks. */
export class ExpiringLru<V> {
  private readonly entries = new Map<string, { value: V; until: number }>();

  constructor(
    private readonly capacity: number,
    private readonly ttlMs: number,
  ) {}

  get(key: string, now = Date.now()): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.until <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: V, now = Date.now()): void {
    this.entries.delete(key);
    this.entries.set(key, { value, until: now + this.ttlMs });
    // Maps iterate in insertion order: the first key is the least recently set.
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}

const isolate = new ExpiringLru<string>(10_000, REMEMBER_SECONDS * 1000);

/** Projects' cache keys, worked out once per isolate (hashing was 4 % of a member request's time). */
const keys = new ExpiringLru<string>(10_000, 3_600_000);

let cache: Cache | undefined;
/** The location's cache, looked up once per isolate. */
const bookmarks = (): Cache => {
  cache ??= caches.default;
  return cache;
};

/**
 * The location's Cache API entry for a project. The key is a hash, so project ids are not
 * stored in the cache's keys; the host is reserved (.invalid) and never fetched.
 */
export async function cacheKeyFor(project: string): Promise<string> {
  const known = keys.get(project);
  if (known !== undefined) return known;
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(project));
  const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  const key = `https://d1-bookmarks.glance-edge.invalid/${hex}`;
  keys.set(project, key);
  return key;
}

/**
 * The newest bookmark remembered for a project, in this isolate or in the location's cache. The
 * cache is read every time: another isolate may have seen a later write of the same project. A
 * cache that fails is only slower consistency, never a failed request.
 */
export async function recall(project: string, requestId?: string): Promise<string | null> {
  const own = isolate.get(project) ?? null;
  try {
    const hit = await bookmarks().match(keys.get(project) ?? (await cacheKeyFor(project)));
    return newest(own, hit ? await hit.text() : null);
  } catch (err) {
    log.warn("could not read a remembered D1 bookmark", { request_id: requestId, detail: detailOf(err) });
    return own;
  }
}

/** Remembers a bookmark for these projects, where it is newer than what is remembered. */
export async function remember(
  projects: Iterable<string>,
  bookmark: string,
  requestId?: string,
): Promise<void> {
  const puts: Promise<void>[] = [];
  for (const project of new Set(projects)) {
    const known = isolate.get(project);
    if (known !== undefined && newest(known, bookmark) === known) continue;
    isolate.set(project, bookmark);
    puts.push(
      cacheKeyFor(project).then((key) =>
        bookmarks().put(
          key,
          new Response(bookmark, { headers: { "Cache-Control": `max-age=${REMEMBER_SECONDS}` } }),
        ),
      ),
    );
  }
  await Promise.all(puts).catch((err: unknown) => {
    log.warn("could not remember a D1 bookmark", { request_id: requestId, detail: detailOf(err) });
  });
}

/** Requests that may change data; a read leaves nothing to remember. */
const READS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Answers every /v2 request with its bookmark (the session's, else a well-formed one the client
 * sent) and, after a write that succeeded, remembers it for the caller's project
 * and for the projects routes named with `alsoRemember`. Runs before authentication, so that a
 * 401 carries the header too.
 */
export const d1Bookmarks = createMiddleware<AppEnv>(async (c, next) => {
  c.set("bookmarkFor", []);
  await next();
  const after = newest(c.get("session")?.getBookmark(), c.get("sessionStart"), c.req.header(BOOKMARK_HEADER));
  if (after === null) return;
  c.res.headers.set(BOOKMARK_HEADER, after);
  // Only a write that succeeded changed anything; batches are atomic, so a refusal or an error
  // left the database as it was.
  if (READS.has(c.req.method) || c.get("session") === undefined || !c.res.ok) return;
  const project = c.get("caller").projectId;
  const projects = project === null ? c.get("bookmarkFor") : [project, ...c.get("bookmarkFor")];
  // Awaited, not left to waitUntil: the client's next call, perhaps through another isolate,
  // must find it.
  if (projects.length > 0) await remember(projects, after, c.get("requestId"));
});

/**
 * Opens the request's one D1 session, after authentication: the caller's project picks the
 * remembered bookmark. The stores get it as `db`, behind the storage guard.
 */
export const d1Session = createMiddleware<AppEnv>(async (c, next) => {
  const project = c.get("caller").projectId;
  const start = newest(
    c.req.header(BOOKMARK_HEADER),
    project === null ? null : await recall(project, c.get("requestId")),
  );
  const session = c.env.DB.withSession(start ?? "first-unconstrained");
  c.set("session", session);
  c.set("sessionStart", start);
  c.set("db", guard(session));
  await next();
});

/** A change that concerns these projects too (a membership's member): their reads must see it. */
export function alsoRemember(c: { get(key: "bookmarkFor"): string[] }, projects: Iterable<string>): void {
  c.get("bookmarkFor").push(...projects);
}
