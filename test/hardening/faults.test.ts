import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from "vitest";
import { makeCaller } from "../../src/auth/caller";
import { guard } from "../../src/db/guard";
import { StorageUnavailable, UNAVAILABLE } from "../../src/http/errors";
import { ADD, guardSql } from "../../src/members/rules";
import { addMember } from "../../src/members/store";
import { credentialsOf, loadPolicy } from "../../src/policy/policy";
import { call, dump, JSON_PATCH, LEAK, type Who } from "../helpers";
import { D1_ERRORS, type FaultMode, faultyD1 } from "./faulty-d1";

/**
 * D1 failing at each of its calls in turn, for every member route and image create, show,
 * list, patch and delete: the client gets 503 with Retry-After and the reference body (no SQL, no
 * D1 text), the failure is logged with the request id, and nothing is half-written: the
 * database is exactly as before. A batch that fails inside its transaction (after its own
 * writes ran) must roll back whole.
 */
const r = crypto.randomUUID().slice(0, 8);
const OWNER = `owner-${r}`;
const MEMBER = `member-${r}`;
const owner: Who = { project: OWNER };
const member: Who = { project: MEMBER };

interface Sent {
  who: Who;
  method: string;
  path: string;
  body?: unknown;
  /** Other vars (POLICY_DEFAULTS) for the faulted request. */
  vars?: Partial<Cloudflare.Env>;
}

/** Sends `req` on `db` (default: the real binding) with a request id of its own, to find its log lines by. */
async function attempt(req: Sent, db?: D1Database, accept = "application/json") {
  const requestId = `fault-${crypto.randomUUID()}`;
  const res = await call(req.method, req.path, {
    who: req.who,
    body: req.body,
    type: req.method === "PATCH" ? JSON_PATCH : undefined,
    headers: { Accept: accept, "X-Openstack-Request-Id": requestId },
    vars: db ? { ...req.vars, DB: db } : req.vars,
  });
  return { res, text: await res.text(), requestId: `req-${requestId}` };
}

async function ok(who: Who, method: string, path: string, body?: unknown) {
  const { res, text } = await attempt({ who, method, path, body });
  expect(res.status, text).toBeLessThan(300);
  return text === "" ? null : JSON.parse(text);
}

/** A shared image of `owner` with `member` pending; returns its id. */
async function fixture(): Promise<string> {
  const image = await ok(owner, "POST", "/v2/images", { name: "faults", tags: [`faults-${r}`] });
  await ok(owner, "POST", `/v2/images/${image.id}/members`, { member_id: MEMBER });
  return image.id as string;
}

interface Scenario {
  name: string;
  /** Prepares data (with the real binding) and returns the request to fault. */
  prepare(): Promise<Sent>;
  /** The status once no call fails. */
  success: number;
}

const SCENARIOS: Scenario[] = [
  {
    name: "POST /v2/images/{id}/members",
    success: 200,
    prepare: async () => ({
      who: owner,
      method: "POST",
      path: `/v2/images/${await fixture()}/members`,
      body: { member_id: `new-${r}` },
    }),
  },
  {
    name: "GET /v2/images/{id}/members",
    success: 200,
    prepare: async () => ({ who: owner, method: "GET", path: `/v2/images/${await fixture()}/members` }),
  },
  {
    name: "GET /v2/images/{id}/members/{member}",
    success: 200,
    prepare: async () => ({
      who: member,
      method: "GET",
      path: `/v2/images/${await fixture()}/members/${MEMBER}`,
    }),
  },
  {
    name: "PUT /v2/images/{id}/members/{member}",
    success: 200,
    prepare: async () => ({
      who: member,
      method: "PUT",
      path: `/v2/images/${await fixture()}/members/${MEMBER}`,
      body: { status: "accepted" },
    }),
  },
  {
    name: "PUT /v2/images/{id}/members/{member} with an invalid status",
    success: 400,
    prepare: async () => ({
      who: member,
      method: "PUT",
      path: `/v2/images/${await fixture()}/members/${MEMBER}`,
      body: { status: "bogus" },
    }),
  },
  {
    name: "DELETE /v2/images/{id}/members/{member}",
    success: 204,
    prepare: async () => ({
      who: owner,
      method: "DELETE",
      path: `/v2/images/${await fixture()}/members/${MEMBER}`,
    }),
  },
  {
    // A refusal is explained from the read of the same batch (docs/reference.md §11): that read failing is 503.
    name: "POST /v2/images/{id}/members by the owner's reader (403 add_member)",
    success: 403,
    prepare: async () => ({
      who: { project: OWNER, roles: ["reader"] },
      method: "POST",
      path: `/v2/images/${await fixture()}/members`,
      body: { member_id: `new-${r}` },
    }),
  },
  {
    name: "DELETE /v2/images/{id}/members/{member} by the member itself, legacy (403)",
    success: 403,
    prepare: async () => ({
      who: member,
      method: "DELETE",
      path: `/v2/images/${await fixture()}/members/${MEMBER}`,
      vars: { POLICY_DEFAULTS: "legacy" },
    }),
  },
  {
    name: "PUT /v2/images/{id}/members/{member} by a member with no role (404 hidden)",
    success: 404,
    prepare: async () => ({
      who: { project: MEMBER, roles: [] },
      method: "PUT",
      path: `/v2/images/${await fixture()}/members/${MEMBER}`,
      body: { status: "accepted" },
    }),
  },
  {
    name: "POST /v2/images",
    success: 201,
    prepare: async () => ({
      who: owner,
      method: "POST",
      path: "/v2/images",
      body: { name: "created", visibility: "private" },
    }),
  },
  {
    name: "GET /v2/images/{id}",
    success: 200,
    prepare: async () => ({ who: member, method: "GET", path: `/v2/images/${await fixture()}` }),
  },
  {
    name: "GET /v2/images?marker=…",
    success: 200,
    prepare: async () => ({
      who: owner,
      method: "GET",
      path: `/v2/images?tag=faults-${r}&marker=${await fixture()}`,
    }),
  },
  {
    name: "PATCH /v2/images/{id}",
    success: 200,
    prepare: async () => ({
      who: owner,
      method: "PATCH",
      path: `/v2/images/${await fixture()}`,
      body: [
        { op: "replace", path: "/name", value: "patched" },
        { op: "replace", path: "/visibility", value: "community" },
      ],
    }),
  },
  {
    name: "DELETE /v2/images/{id}",
    success: 204,
    prepare: async () => ({ who: owner, method: "DELETE", path: `/v2/images/${await fixture()}` }),
  },
];

const MODES: [string, (n: number) => FaultMode][] = [
  ["D1 throws", (n) => ({ kind: "throw", error: D1_ERRORS[n % D1_ERRORS.length] })],
  ["the batch fails inside its transaction", () => ({ kind: "abort-in-transaction" })],
];

let errors: MockInstance<typeof console.error>;
beforeEach(() => {
  errors = vi.spyOn(console, "error").mockImplementation(() => {});
});
afterEach(() => {
  errors.mockRestore();
});

/** The log lines written during one request, parsed. */
function logged(): Record<string, unknown>[] {
  return errors.mock.calls.map((args) => {
    try {
      return JSON.parse(String(args[0])) as Record<string, unknown>;
    } catch {
      return { raw: args.map(String).join(" ") };
    }
  });
}

describe("D1 failing at each call of each route", () => {
  for (const scenario of SCENARIOS) {
    for (const [modeName, mode] of MODES) {
      it(`${scenario.name}: ${modeName} → 503, logged, nothing written`, async () => {
        const req = await scenario.prepare();
        for (let n = 1; ; n++) {
          const before = await dump();
          errors.mockClear();
          const faulty = faultyD1(env.DB, n, mode(n));
          const { res, text, requestId } = await attempt(req, faulty.db);
          if (faulty.calls() < n) {
            // No call left to fail: the request went through.
            expect(res.status, text).toBe(scenario.success);
            // So a fault was injected at each of the route's calls, at least one.
            expect(n - 1, "the route made no D1 call at all").toBeGreaterThan(0);
            break;
          }
          const where = `fault at call ${n} (${faulty.failed()})`;
          expect(res.status, `${where}: ${text}`).toBe(503);
          expect(res.headers.get("Retry-After"), where).toMatch(/^[1-9]\d*$/);
          expect(res.headers.get("Content-Type"), where).toBe("application/json");
          expect(JSON.parse(text), where).toStrictEqual({
            message: UNAVAILABLE,
            code: "503 Service Unavailable",
            title: "Service Unavailable",
          });
          expect(text, where).not.toMatch(LEAK);
          expect(res.headers.get("x-openstack-request-id"), where).toBe(requestId);
          const lines = logged();
          expect(
            lines.some((l) => l.level === "error" && l.request_id === requestId),
            `${where}: ${JSON.stringify(lines)}`,
          ).toBe(true);
          expect(await dump(), `${where}: the database changed`).toBe(before);
        }
      });
    }
  }

  it("answers text to clients that do not ask for JSON", async () => {
    const image = await fixture();
    const faulty = faultyD1(env.DB, 1, { kind: "throw", error: D1_ERRORS[3] });
    const { res, text } = await attempt(
      { who: owner, method: "GET", path: `/v2/images/${image}/members` },
      faulty.db,
      "*/*",
    );
    expect(res.status).toBe(503);
    expect(res.headers.get("Retry-After")).toMatch(/^[1-9]\d*$/);
    expect(res.headers.get("Content-Type")).toBe("text/plain; charset=UTF-8");
    expect(text).toBe(`503 Service Unavailable\n\n${UNAVAILABLE}\n`);
  });
});

describe("src/db/guard.ts", () => {
  it("passes results through unchanged", async () => {
    const db = guard(env.DB);
    const q = "SELECT 1 AS one, 'x' AS two";
    expect(await db.prepare(q).first()).toStrictEqual(await env.DB.prepare(q).first());
    expect(await db.prepare(q).first("two")).toBe("x");
    expect((await db.prepare(q).all()).results).toStrictEqual([{ one: 1, two: "x" }]);
    expect(await db.prepare(q).raw()).toStrictEqual([[1, "x"]]);
    expect((await db.prepare("SELECT ?1 AS v").bind(7).run()).results).toStrictEqual([{ v: 7 }]);
    const [a, b] = await db.batch([db.prepare("SELECT 1 AS v"), db.prepare("SELECT ?1 AS v").bind(2)]);
    expect([a?.results, b?.results]).toStrictEqual([[{ v: 1 }], [{ v: 2 }]]);
  });

  it("turns every D1 failure into StorageUnavailable (503, Retry-After), keeping the cause for the log", async () => {
    for (const error of D1_ERRORS) {
      for (const call of ["first", "all", "run", "raw", "batch"] as const) {
        const db = guard(faultyD1(env.DB, 1, { kind: "throw", error }).db);
        const statement = db.prepare("SELECT 1");
        const attempt: Promise<unknown> =
          call === "batch"
            ? db.batch([statement])
            : call === "first"
              ? statement.first()
              : call === "all"
                ? statement.all()
                : call === "run"
                  ? statement.run()
                  : statement.raw();
        const thrown = await attempt.then(
          () => null,
          (e: unknown) => e,
        );
        expect(thrown, `${call}: ${String(error)}`).toBeInstanceOf(StorageUnavailable);
        const e = thrown as StorageUnavailable;
        expect([e.status, e.explanation]).toStrictEqual([503, UNAVAILABLE]);
        expect(e.headers["Retry-After"]).toMatch(/^[1-9]\d*$/);
        expect(e.cause).toBe(error);
      }
    }
  });

  it("a real SQLite error inside a batch is a 503 too, and the batch is rolled back", async () => {
    const image = await fixture();
    const before = await dump();
    const db = guard(env.DB);
    const thrown = await db
      .batch([
        db.prepare("UPDATE images SET name = 'half-written' WHERE id = ?1").bind(image),
        db.prepare("SELECT * FROM fault_injection_no_such_table"),
      ])
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(thrown).toBeInstanceOf(StorageUnavailable);
    expect(await dump()).toBe(before);
  });

  it("lets the UNIQUE violation through, so the members store still answers 409", async () => {
    const image = await fixture();
    const db = guard(env.DB);
    // The store as the route calls it: the owner (a member, secure-rbac) and ADD's rules as SQL.
    const load = loadPolicy("secure-rbac", "");
    if (!load.ok) throw new Error(load.error);
    const creds = credentialsOf(makeCaller(OWNER, `user-of-${OWNER}`, ["member", "reader"]), load.policy);
    const rules = (param: (v: unknown) => string) => guardSql(load.policy, creds, ADD, param);
    const asker = { project: OWNER, admin: false };
    const actor = { project: OWNER, user: null, requestId: null };
    const first = await addMember(db, asker, actor, image, `dup-${r}`, null, 128, rules);
    expect(first.kind).toBe("added");
    expect(await addMember(db, asker, actor, image, `dup-${r}`, null, 128, rules)).toStrictEqual({
      kind: "duplicate",
    });
    // And through the whole app, with the guard in place.
    const again = await attempt({
      who: owner,
      method: "POST",
      path: `/v2/images/${image}/members`,
      body: { member_id: `dup-${r}` },
    });
    expect(again.res.status).toBe(409);
    expect(JSON.parse(again.text).message).toBe(`Member dup-${r} is duplicated for image ${image}`);
  });

  it("an injected UNIQUE violation still answers 409, not 503", async () => {
    const image = await fixture();
    const unique = new Error(
      "D1_ERROR: UNIQUE constraint failed: image_members.image_id, image_members.member_id: SQLITE_CONSTRAINT",
    );
    const faulty = faultyD1(env.DB, 1, { kind: "throw", error: unique });
    const { res, text } = await attempt(
      { who: owner, method: "POST", path: `/v2/images/${image}/members`, body: { member_id: `x-${r}` } },
      faulty.db,
    );
    expect(res.status, text).toBe(409);
    expect(JSON.parse(text).message).toBe(`Member x-${r} is duplicated for image ${image}`);
  });

  it("a duplicate image id is still 409 through the guard", async () => {
    const id = crypto.randomUUID();
    await ok(owner, "POST", "/v2/images", { id });
    const { res, text } = await attempt({ who: owner, method: "POST", path: "/v2/images", body: { id } });
    expect(res.status, text).toBe(409);
    expect(JSON.parse(text).message).toBe(`Image with identifier ${id} already exists!`);
  });
});

describe("D1 failing as an upload finishes", () => {
  it("503, the image back to queued with no object left, and a retry works", async () => {
    const image = await ok(owner, "POST", "/v2/images", {
      name: "upload-fault",
      disk_format: "raw",
      container_format: "bare",
    });
    const upload = (db?: D1Database) =>
      call("PUT", `/v2/images/${image.id}/file`, {
        who: owner,
        raw: new Uint8Array([1, 2, 3, 4]),
        type: "application/octet-stream",
        vars: db ? { DB: db } : undefined,
      });
    // Call 1 starts the upload (a batch), call 2 finishes it: that one fails.
    const faulty = faultyD1(env.DB, 2, { kind: "throw", error: D1_ERRORS[0] });
    const res = await upload(faulty.db);
    expect(faulty.failed()).not.toBeNull();
    expect(res.status, await res.clone().text()).toBe(503);
    expect(res.headers.get("Retry-After")).not.toBeNull();
    const row = await env.DB.prepare("SELECT status, upload_id FROM images WHERE id = ?")
      .bind(image.id)
      .first<{ status: string; upload_id: string | null }>();
    expect(row).toStrictEqual({ status: "queued", upload_id: null });
    expect(await env.IMAGE_DATA.head(image.id)).toBeNull();
    expect((await env.IMAGE_DATA.list()).objects.some((o) => o.key.includes(image.id))).toBe(false);
    expect((await upload()).status).toBe(204);
  });
});
