import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from "vitest";
import worker from "../../src/index";
import { MAX_BATCHES, PURGE_BATCH, scheduled } from "../../src/scheduled";
import { faultyD1 } from "../hardening/faulty-d1";
import { call, createImage, dump, EVENT_KEYS, project, recordingQueue, rid, type Who } from "../helpers";

/**
 * The Cron Trigger (docs/reference.md §12.1, §12.4): at its scheduledTime it purges the memberships expired
 * by then, each with one §9 image.member.delete event and one `expire` record (no actor, no
 * request), in bounded batches; then the audit records older than AUDIT_RETENTION_DAYS.
 *
 * Storage is this file's own, shared by its tests, and a purge takes every expired row: each
 * test starts from no memberships and no records.
 */

const CRON = "*/5 * * * *";
const STAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const OSLO_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/;
const DAY = 86_400_000;
const stamp = (ms: number) => `${new Date(ms).toISOString().slice(0, 19)}Z`;
/** A second boundary, so that stamps of it and its neighbours are exact. */
const second = (ms: number) => Math.floor(ms / 1000) * 1000;

interface Event {
  message_id: string;
  publisher_id: string;
  event_type: string;
  priority: string;
  timestamp: string;
  payload: {
    image_id: string;
    member_id: string;
    status: string;
    created_at: string;
    updated_at: string;
    deleted: boolean;
    deleted_at: string | null;
  };
}

interface Run {
  sent: Event[];
  calls: ReturnType<typeof recordingQueue<Event>>["calls"];
  /** The handler's report line. */
  report: Record<string, unknown> | undefined;
}

let logs: MockInstance<typeof console.info>;
let errors: MockInstance<typeof console.error>;
beforeEach(async () => {
  logs = vi.spyOn(console, "info").mockImplementation(() => {});
  errors = vi.spyOn(console, "error").mockImplementation(() => {});
  // Memberships first: removing them writes records, removed next.
  await env.DB.batch([
    env.DB.prepare("DELETE FROM image_members"),
    env.DB.prepare("DELETE FROM member_events"),
  ]);
});
afterEach(() => vi.restoreAllMocks());

const parsed = (spy: MockInstance<(...args: unknown[]) => void>) =>
  spy.mock.calls.map((args) => {
    try {
      return JSON.parse(String(args[0])) as Record<string, unknown>;
    } catch {
      return { raw: args.map(String).join(" ") };
    }
  });

/** Runs the Worker's scheduled handler (src/index.ts default export) at `scheduledTime`. */
async function runAt(scheduledTime: number, vars: Partial<Cloudflare.Env> = {}): Promise<Run> {
  // Slow, as a real Queue is: only what the handler hands to waitUntil is waited for.
  const { queue, sent, calls } = recordingQueue<Event>({ delayMs: 25 });
  const controller = createScheduledController({ scheduledTime, cron: CRON });
  const ctx = createExecutionContext();
  logs.mockClear();
  await worker.scheduled(controller, { ...env, NOTIFICATIONS: queue, ...vars }, ctx);
  await waitOnExecutionContext(ctx);
  const report = parsed(logs as never).find((l) => l.msg === "purge");
  return { sent, calls, report };
}

const owner = project("owner");
const who = (p: string): Who => ({ project: p, user: `user-of-${p}`, roles: ["member", "reader"] });

async function addMember(image: string, m: string, expiresAt?: string) {
  const res = await call("POST", `/v2/images/${image}/members`, {
    who: who(owner),
    body: expiresAt === undefined ? { member_id: m } : { member_id: m, expires_at: expiresAt },
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json<{ created_at: string; updated_at: string }>();
}

async function setExpiry(image: string, m: string, at: string | null) {
  await env.DB.prepare("UPDATE image_members SET expires_at = ?3 WHERE image_id = ?1 AND member_id = ?2")
    .bind(image, m, at)
    .run();
}

interface Row {
  image_id: string;
  member_id: string;
  status: string;
  created_at: string;
  updated_at: string;
  expires_at: string | null;
}
const rows = async (image?: string) =>
  (
    await env.DB.prepare(
      `SELECT image_id, member_id, status, created_at, updated_at, expires_at FROM image_members
       WHERE ?1 IS NULL OR image_id = ?1 ORDER BY image_id, member_id`,
    )
      .bind(image ?? null)
      .all<Row>()
  ).results;

interface StoredRecord {
  id: number;
  at: string;
  action: string;
  image_id: string;
  image_owner: string | null;
  member_id: string;
  status: string;
  expires_at: string | null;
  actor_project: string | null;
  actor_user: string | null;
  request_id: string | null;
}
const records = async (action?: string) =>
  (
    await env.DB.prepare("SELECT * FROM member_events WHERE ?1 IS NULL OR action = ?1 ORDER BY id")
      .bind(action ?? null)
      .all<StoredRecord>()
  ).results;

/** Inserts `n` memberships of `image` directly (the create trigger records them, without actor). */
async function insertMany(image: string, n: number, prefix: string, expiresAt: (k: number) => string | null) {
  const values: unknown[] = [];
  const CHUNK = 20;
  for (let start = 0; start < n; start += CHUNK) {
    const count = Math.min(CHUNK, n - start);
    values.length = 0;
    const tuples: string[] = [];
    for (let k = start; k < start + count; k++) {
      const base = values.length;
      tuples.push(`(?${base + 1}, ?${base + 2}, 'pending', ?${base + 3}, ?${base + 3}, ?${base + 4})`);
      values.push(image, `${prefix}-${String(k).padStart(5, "0")}`, stamp(Date.now() - DAY), expiresAt(k));
    }
    await env.DB.prepare(
      `INSERT INTO image_members (image_id, member_id, status, created_at, updated_at, expires_at)
       VALUES ${tuples.join(", ")}`,
    )
      .bind(...values)
      .run();
  }
}

describe("purge of expired memberships", () => {
  it("purges exactly the rows with expires_at <= scheduledTime, each with one delete event and one expire record", async () => {
    const image = await createImage(owner);
    const other = await createImage(owner, { visibility: "private" });
    const now = second(Date.now());
    // scheduledTime 10 minutes ahead of the real clock, with milliseconds: the purge's clock is it.
    const at = now + 600_000 + 750;
    const [past, exact, justBefore, justAfter, never, farPast] = [
      `past-${rid()}`,
      `exact-${rid()}`,
      `before-${rid()}`,
      `after-${rid()}`,
      `never-${rid()}`,
      `far-${rid()}`,
    ];
    await addMember(image, past);
    await addMember(image, exact, stamp(at));
    await addMember(image, justBefore, stamp(at - 1000));
    await addMember(image, justAfter, stamp(at + 1000));
    await addMember(image, never);
    await addMember(other, farPast);
    const put = await call("PUT", `/v2/images/${image}/members/${past}`, {
      who: who(past),
      body: { status: "accepted" },
    });
    expect(put.status).toBe(200);
    await setExpiry(image, past, stamp(now - 3_600_000));
    await setExpiry(other, farPast, "2001-01-01T00:00:00Z");
    const before = await rows();
    const recordsBefore = await records();
    const t0 = Date.now();

    const run = await runAt(at);
    const t1 = Date.now();

    const purged = [past, exact, justBefore].map((m) => before.find((r) => r.member_id === m) as Row);
    purged.push(before.find((r) => r.member_id === farPast) as Row);
    expect(await rows()).toStrictEqual(before.filter((r) => !purged.includes(r)));
    expect((await rows()).map((r) => r.member_id).sort()).toEqual([justAfter, never].sort());

    // One expire record per purged row, nothing else written.
    const after = await records();
    expect(after.slice(0, recordsBefore.length)).toStrictEqual(recordsBefore);
    const added = after.slice(recordsBefore.length);
    const byMember = (a: { member_id: string }, b: { member_id: string }) =>
      a.member_id.localeCompare(b.member_id);
    expect([...added].sort(byMember)).toStrictEqual(
      [...purged].sort(byMember).map((r) => ({
        id: expect.any(Number),
        at: expect.stringMatching(STAMP),
        action: "expire",
        image_id: r.image_id,
        image_owner: owner,
        member_id: r.member_id,
        status: r.status,
        expires_at: r.expires_at,
        actor_project: null,
        actor_user: null,
        request_id: null,
      })),
    );
    for (const r of added) expect(r.at >= stamp(t0 - 2000) && r.at <= stamp(t1 + 2000)).toBe(true);
    expect(purged.find((r) => r.member_id === past)?.status).toBe("accepted");

    // One image.member.delete event per purged row, in Glance's shape.
    expect(run.sent.map((e) => [e.payload.image_id, e.payload.member_id]).sort()).toEqual(
      purged.map((r) => [r.image_id, r.member_id]).sort(),
    );
    for (const e of run.sent) {
      const row = purged.find((r) => r.member_id === e.payload.member_id) as Row;
      expect(Object.keys(e)).toEqual(EVENT_KEYS);
      expect(e).toStrictEqual({
        message_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        publisher_id: "image.glance-edge",
        event_type: "image.member.delete",
        priority: "INFO",
        timestamp: expect.stringMatching(OSLO_TIME),
        payload: {
          image_id: row.image_id,
          member_id: row.member_id,
          status: row.status,
          created_at: row.created_at,
          updated_at: row.updated_at,
          deleted: true,
          deleted_at: expect.stringMatching(STAMP),
        },
      });
    }
    expect(new Set(run.sent.map((e) => e.message_id)).size).toBe(run.sent.length);
    expect(run.report).toStrictEqual({ level: "info", msg: "purge", cron: CRON, expired: 4, records: 0 });

    // The API shows the expiry to the member and the owner: no actor, no request id.
    const res = await call("GET", `/v2/member-events?action=expire`, { who: who(past) });
    expect(res.status).toBe(200);
    const body = await res.json<{ events: unknown[] }>();
    expect(body.events).toStrictEqual([
      {
        id: expect.any(Number),
        at: expect.stringMatching(STAMP),
        action: "expire",
        image_id: image,
        image_owner: owner,
        member_id: past,
        status: "accepted",
        expires_at: stamp(now - 3_600_000),
        actor: null,
        request_id: null,
      },
    ]);

    // A second run at the same time finds nothing.
    const again = await runAt(at);
    expect(again.sent).toEqual([]);
    expect(again.report).toStrictEqual({ level: "info", msg: "purge", cron: CRON, expired: 0, records: 0 });
    expect(await records()).toStrictEqual(after);
  });

  it("the clock is scheduledTime: a run in the past leaves rows that expired after it", async () => {
    const image = await createImage(owner);
    const now = second(Date.now());
    const [early, late] = [`early-${rid()}`, `late-${rid()}`];
    await addMember(image, early);
    await addMember(image, late);
    await setExpiry(image, early, stamp(now - 2 * 3_600_000));
    await setExpiry(image, late, stamp(now - 3_600_000));
    const run = await runAt(now - 3_600_000 - 1000);
    expect((await rows(image)).map((r) => r.member_id)).toEqual([late]);
    expect(run.sent.map((e) => e.payload.member_id)).toEqual([early]);
    expect((await records("expire")).map((r) => r.member_id)).toEqual([early]);
    expect(run.report).toMatchObject({ expired: 1 });
  });

  it("a single purged row is sent with send; a publisher host comes from PUBLIC_ENDPOINT", async () => {
    const image = await createImage(owner);
    const m = `one-${rid()}`;
    await addMember(image, m);
    await setExpiry(image, m, stamp(Date.now() - 60_000));
    const run = await runAt(Date.now(), { PUBLIC_ENDPOINT: "https://images.example.org:9292/image" });
    expect(run.calls.map((c) => [c.kind, c.messages.map((e) => e.payload.member_id)])).toEqual([
      ["send", [m]],
    ]);
    expect(
      run.sent.map((e) => [e.publisher_id, e.event_type, e.payload.member_id, e.payload.deleted]),
    ).toEqual([["image.images.example.org", "image.member.delete", m, true]]);
  });

  it("a failure to enqueue never stops the purge; it is logged", async () => {
    const image = await createImage(owner);
    for (const m of ["q1", "q2"]) {
      await addMember(image, m);
      await setExpiry(image, m, stamp(Date.now() - 60_000));
    }
    const failing = recordingQueue({ fail: new Error("Queue send failed") }).queue;
    const run = await runAt(Date.now(), { NOTIFICATIONS: failing });
    expect(run.report).toMatchObject({ expired: 2 });
    expect(await rows(image)).toEqual([]);
    expect((await records("expire")).map((r) => r.member_id).sort()).toEqual(["q1", "q2"]);
    expect(parsed(errors as never)).toContainEqual(
      expect.objectContaining({
        level: "error",
        request_id: null,
        msg: `could not enqueue image.member.delete for image ${image}`,
      }),
    );
  });

  it("without a NOTIFICATIONS binding the purge still runs", async () => {
    const image = await createImage(owner);
    await addMember(image, "quiet");
    await setExpiry(image, "quiet", stamp(Date.now() - 60_000));
    const run = await runAt(Date.now(), { NOTIFICATIONS: undefined });
    expect(run.report).toMatchObject({ expired: 1 });
    expect(await rows(image)).toEqual([]);
  });

  it("more than PURGE_BATCH expired rows: one run purges them all, in bounded batches, each with its event and record", async () => {
    const image = await createImage(owner);
    const n = 2 * PURGE_BATCH + 50;
    const now = second(Date.now());
    await insertMany(image, n, "bulk", (k) => stamp(now - 1000 * (k + 1)));
    await insertMany(image, 5, "live", () => stamp(now + DAY));
    expect(await rows(image)).toHaveLength(n + 5);
    const creates = (await records("create")).length;
    expect(creates).toBe(n + 5);

    const run = await runAt(now);
    expect((await rows(image)).map((r) => r.member_id)).toEqual([
      "live-00000",
      "live-00001",
      "live-00002",
      "live-00003",
      "live-00004",
    ]);
    const expired = await records("expire");
    expect(expired).toHaveLength(n);
    expect(new Set(expired.map((r) => r.member_id)).size).toBe(n);
    expect(
      expired.every((r) => r.actor_project === null && r.actor_user === null && r.request_id === null),
    ).toBe(true);
    // Batches of PURGE_BATCH, oldest expiries first: each batch's events go together.
    expect(run.calls.map((c) => [c.kind, c.messages.length])).toEqual([
      ["sendBatch", PURGE_BATCH],
      ["sendBatch", PURGE_BATCH],
      ["sendBatch", 50],
    ]);
    const oldestFirst = Array.from({ length: n }, (_, k) => `bulk-${String(n - 1 - k).padStart(5, "0")}`);
    expect(run.calls.map((c) => c.messages.map((e) => e.payload.member_id).sort())).toEqual([
      oldestFirst.slice(0, PURGE_BATCH).sort(),
      oldestFirst.slice(PURGE_BATCH, 2 * PURGE_BATCH).sort(),
      oldestFirst.slice(2 * PURGE_BATCH).sort(),
    ]);
    expect(run.sent).toHaveLength(n);
    expect(new Set(run.sent.map((e) => e.payload.member_id))).toEqual(
      new Set(expired.map((r) => r.member_id)),
    );
    expect(run.sent.every((e) => e.event_type === "image.member.delete" && e.payload.deleted)).toBe(true);
    expect(run.calls.every((c) => c.messages.length <= 100)).toBe(true);
    expect(run.report).toStrictEqual({ level: "info", msg: "purge", cron: CRON, expired: n, records: 0 });
  });

  it(`at most MAX_BATCHES × PURGE_BATCH (${MAX_BATCHES} × ${PURGE_BATCH}) rows per run; the next run goes on`, async () => {
    const image = await createImage(owner);
    const bound = MAX_BATCHES * PURGE_BATCH;
    const now = second(Date.now());
    // One statement (recursive CTE): bound + 1 expired rows, the last one expiring latest.
    await env.DB.prepare(
      `WITH RECURSIVE k(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM k WHERE n < ?2)
       INSERT INTO image_members (image_id, member_id, status, created_at, updated_at, expires_at)
       SELECT ?1, printf('m-%05d', n), 'pending', '2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z',
              strftime('%Y-%m-%dT%H:%M:%SZ', '2020-01-01T00:00:00Z', '+' || n || ' seconds')
       FROM k`,
    )
      .bind(image, bound)
      .run();
    expect(await rows(image)).toHaveLength(bound + 1);
    const first = await runAt(now);
    expect(first.report).toMatchObject({ expired: bound });
    expect(first.sent).toHaveLength(bound);
    expect((await rows(image)).map((r) => r.member_id)).toEqual([`m-${String(bound).padStart(5, "0")}`]);
    expect(await records("expire")).toHaveLength(bound);
    const second_ = await runAt(now);
    expect(second_.report).toMatchObject({ expired: 1 });
    expect(await rows(image)).toEqual([]);
    expect(await records("expire")).toHaveLength(bound + 1);
  });

  it("runs through the Worker's entry point (exports.default.scheduled)", async () => {
    const image = await createImage(owner);
    const m = `entry-${rid()}`;
    await addMember(image, m);
    await setExpiry(image, m, stamp(Date.now() - 60_000));
    // The loopback binding to the main module's default export runs its handler with the real env.
    const entry = exports.default as unknown as {
      scheduled(options: { scheduledTime: Date; cron: string }): Promise<unknown>;
    };
    await entry.scheduled({ scheduledTime: new Date(), cron: CRON });
    expect(parsed(logs as never)).toContainEqual({
      level: "info",
      msg: "purge",
      cron: CRON,
      expired: 1,
      records: 0,
    });
    expect(await rows(image)).toEqual([]);
    expect((await records("expire")).map((r) => r.member_id)).toEqual([m]);
  });

  it("src/scheduled.ts returns its report", async () => {
    const image = await createImage(owner);
    const m = `report-${rid()}`;
    await addMember(image, m);
    await setExpiry(image, m, stamp(Date.now() - 60_000));
    await insertRecords(["2000-01-01T00:00:00Z"]);
    const ctx = createExecutionContext();
    const report = await scheduled(
      createScheduledController({ scheduledTime: Date.now(), cron: CRON }),
      env,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(report).toStrictEqual({ expired: 1, records: 1 });
  });
});

/** Records inserted directly with chosen times. */
async function insertRecords(ats: string[], image = crypto.randomUUID()) {
  for (const at of ats) {
    await env.DB.prepare(
      `INSERT INTO member_events (at, action, image_id, image_owner, member_id, status, expires_at,
         actor_project, actor_user, request_id)
       VALUES (?1, 'create', ?2, 'o', 'm', 'pending', NULL, 'o', 'u', 'req-old')`,
    )
      .bind(at, image)
      .run();
  }
  return image;
}

const ats = async () => (await records()).map((r) => r.at);

describe("retention of audit records", () => {
  it("deletes records older than scheduledTime − AUDIT_RETENTION_DAYS, keeps the rest (default 365)", async () => {
    const at = second(Date.now()) + 400;
    const cutoff = second(at) - 365 * DAY;
    await insertRecords([
      "1999-12-31T23:59:59Z",
      stamp(cutoff - 1000),
      stamp(cutoff),
      stamp(cutoff + 1000),
      stamp(at - DAY),
    ]);
    const run = await runAt(at);
    expect(await ats()).toEqual([stamp(cutoff), stamp(cutoff + 1000), stamp(at - DAY)]);
    expect(run.report).toStrictEqual({ level: "info", msg: "purge", cron: CRON, expired: 0, records: 2 });
    expect(errors).not.toHaveBeenCalled();
  });

  it("AUDIT_RETENTION_DAYS is read from the environment; empty means 365", async () => {
    const at = second(Date.now());
    await insertRecords([stamp(at - 31 * DAY), stamp(at - 30 * DAY), stamp(at - 29 * DAY)]);
    const run = await runAt(at, { AUDIT_RETENTION_DAYS: "30" });
    expect(await ats()).toEqual([stamp(at - 30 * DAY), stamp(at - 29 * DAY)]);
    expect(run.report).toMatchObject({ records: 1 });

    await insertRecords([stamp(at - 366 * DAY), stamp(at - 364 * DAY)]);
    for (const empty of ["", "  ", undefined]) {
      await runAt(at, { AUDIT_RETENTION_DAYS: empty });
      expect(await ats()).toEqual([stamp(at - 30 * DAY), stamp(at - 29 * DAY), stamp(at - 364 * DAY)]);
    }
    const one = await runAt(at, { AUDIT_RETENTION_DAYS: " 1 " });
    expect(await ats()).toEqual([]);
    expect(one.report).toMatchObject({ records: 3 });
    expect(errors).not.toHaveBeenCalled();
  });

  it("the retention's clock is scheduledTime too", async () => {
    const now = second(Date.now());
    const at = now - 10 * DAY;
    await insertRecords([stamp(at - 30 * DAY - 1000), stamp(at - 30 * DAY), stamp(now - 35 * DAY)]);
    const run = await runAt(at, { AUDIT_RETENTION_DAYS: "30" });
    expect(await ats()).toEqual([stamp(at - 30 * DAY), stamp(now - 35 * DAY)]);
    expect(run.report).toMatchObject({ records: 1 });
  });

  it("more than one batch of old records goes in one run", async () => {
    const at = second(Date.now());
    await env.DB.prepare(
      `WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < 2500)
       INSERT INTO member_events (at, action, image_id, image_owner, member_id, status)
       SELECT strftime('%Y-%m-%dT%H:%M:%SZ', '2001-01-01T00:00:00Z', '+' || n || ' minutes'), 'create', 'img', 'o', 'm', 'pending'
       FROM k`,
    ).run();
    await insertRecords([stamp(at)]);
    const run = await runAt(at);
    expect(run.report).toMatchObject({ records: 2500 });
    expect(await ats()).toEqual([stamp(at)]);
  });

  for (const bad of ["0", "abc", "-1", "1.5", "1e3", "0x10", "1000000", "00"]) {
    it(`AUDIT_RETENTION_DAYS=${JSON.stringify(bad)}: no record is purged, and that is logged; expiry still runs`, async () => {
      const image = await createImage(owner);
      const m = `exp-${rid()}`;
      await addMember(image, m);
      await setExpiry(image, m, stamp(Date.now() - 60_000));
      await insertRecords(["1990-01-01T00:00:00Z", "2001-01-01T00:00:00Z"]);
      const before = await records();
      const run = await runAt(Date.now(), { AUDIT_RETENTION_DAYS: bad });
      const after = await records();
      expect(after.slice(0, before.length)).toStrictEqual(before);
      expect(after.slice(before.length).map((r) => [r.action, r.member_id])).toEqual([["expire", m]]);
      expect(run.report).toStrictEqual({ level: "info", msg: "purge", cron: CRON, expired: 1, records: 0 });
      expect(parsed(errors as never)).toContainEqual({
        level: "error",
        msg: `AUDIT_RETENTION_DAYS ${JSON.stringify(bad)} is not a positive number of days; no record is purged`,
      });
    });
  }
});

describe("D1 failing during the purge", () => {
  async function fixture(n: number) {
    const image = await createImage(owner);
    await insertMany(image, n, "f", (k) => stamp(Date.now() - 60_000 - k * 1000));
    await insertRecords(["2001-01-01T00:00:00Z"]);
    return image;
  }

  async function runWith(db: D1Database, at = Date.now()) {
    const { queue, sent } = recordingQueue();
    const ctx = createExecutionContext();
    const controller = createScheduledController({ scheduledTime: at, cron: CRON });
    const outcome = await worker.scheduled(controller, { ...env, DB: db, NOTIFICATIONS: queue }, ctx).then(
      () => null,
      (e: unknown) => e,
    );
    await waitOnExecutionContext(ctx);
    return { outcome, sent };
  }

  for (const [name, mode] of [
    ["D1 throws", { kind: "throw", error: new Error("D1_ERROR: Network connection lost.") }],
    ["the batch fails inside its transaction", { kind: "abort-in-transaction" }],
  ] as const) {
    it(`${name} at the first purge batch: the handler rejects, rows and records as they were, no event`, async () => {
      await fixture(5);
      const before = await dump();
      const faulty = faultyD1(env.DB, 1, mode);
      const { outcome, sent } = await runWith(faulty.db);
      expect(faulty.failed()).not.toBeNull();
      expect(outcome).toBeInstanceOf(Error);
      expect(await dump()).toBe(before);
      expect(sent).toEqual([]);
      expect(
        (await env.DB.prepare("SELECT COUNT(*) AS n FROM change_context").first<{ n: number }>())?.n,
      ).toBe(0);
    });
  }

  it("a failure at the second batch keeps the first batch's work whole and leaves the rest as it was", async () => {
    const image = await fixture(PURGE_BATCH + 20);
    const before = await rows(image);
    const faulty = faultyD1(env.DB, 2, { kind: "abort-in-transaction" });
    const { outcome, sent } = await runWith(faulty.db);
    expect(outcome).toBeInstanceOf(Error);
    const left = await rows(image);
    expect(left).toHaveLength(20);
    // The rows left are those that expire latest, untouched.
    const latest = [...before].sort((a, b) => (b.expires_at as string).localeCompare(a.expires_at as string));
    expect(new Set(left.map((r) => r.member_id))).toEqual(
      new Set(latest.slice(0, 20).map((r) => r.member_id)),
    );
    for (const r of left) expect(r).toStrictEqual(before.find((b) => b.member_id === r.member_id));
    // Each purged row has its record and its event; no row left has either.
    const expired = await records("expire");
    expect(expired).toHaveLength(PURGE_BATCH);
    expect(sent).toHaveLength(PURGE_BATCH);
    const gone = new Set(before.map((r) => r.member_id).filter((m) => !left.some((l) => l.member_id === m)));
    expect(new Set(expired.map((r) => r.member_id))).toEqual(gone);
    expect(new Set(sent.map((e) => e.payload.member_id))).toEqual(gone);
    // Old records untouched (the retention purge never ran), and the next run goes on.
    expect(await records()).toContainEqual(expect.objectContaining({ at: "2001-01-01T00:00:00Z" }));
    const next = await runAt(Date.now());
    expect(next.report).toMatchObject({ expired: 20, records: 1 });
    expect(await rows(image)).toEqual([]);
  });

  it("a failure of the retention purge rejects and keeps every record", async () => {
    await insertRecords(["2001-01-01T00:00:00Z", "2002-01-01T00:00:00Z"]);
    const before = await dump();
    // Call 1: the (empty) expiry batch; call 2: the retention DELETE.
    const faulty = faultyD1(env.DB, 2, { kind: "throw", error: new Error("D1 DB is overloaded.") });
    const { outcome } = await runWith(faulty.db);
    expect(faulty.failed()).toBe("run");
    expect(outcome).toBeInstanceOf(Error);
    expect(await dump()).toBe(before);
  });
});
