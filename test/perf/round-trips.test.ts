import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { addMember, type Counted, callCounted, createImage, JSON_PATCH, project, type Who } from "../helpers";
import { countingDb, isContext, isWrite, rowsRead } from "./counting-db";

/**
 * Issue 5 item 2: every member route costs exactly one D1 round trip, on success and on every
 * error path of docs/reference.md §5; so do GET /v2/images/{id} and one page of GET /v2/images. Requests
 * rejected before the database (body errors, 401) cost none. A round trip is one
 * first/all/run/raw of a statement, one batch, or one exec (test/perf/counting-db.ts).
 *
 * Setup goes through the real binding; only the request under test runs on the counting one.
 */
const who = (p: string | null, roles = ["member", "reader"]): Who => ({ project: p, roles });
const adminWho = () => who(project("admin"), ["admin", "member"]);

/** A shared (or other visibility) image of a fresh owner with `members` added. */
async function fixture(visibility = "shared", members: string[] = []) {
  const owner = project("owner");
  const creator = visibility === "public" ? project("admin") : owner;
  const id = await createImage(creator, { visibility }, visibility === "public" ? ["admin"] : undefined);
  for (const m of members) await addMember(creator, id, m);
  return { owner: creator, id };
}

interface Case {
  route: string;
  outcome: string;
  status: number;
  /** The exact number of round trips. */
  trips: number;
  /** A write the one round trip must carry: the database, not a read before it, decides. */
  write?: RegExp;
  run: () => Promise<Counted>;
}

const INSERT_MEMBER = /^\s*INSERT(?:\s+OR\s+\w+)?\s+INTO image_members\b/i;
const UPDATE_MEMBER = /^\s*UPDATE image_members\b/i;
const DELETE_MEMBER = /^\s*DELETE FROM image_members\b/i;

const BIG = JSON.stringify({ member_id: "x".repeat(65 * 1024) });

const add = (id: string, caller: Who, body: unknown, vars?: Partial<Cloudflare.Env>) =>
  callCounted("POST", `/v2/images/${id}/members`, { who: caller, body, vars });
const addRaw = (id: string, caller: Who, raw: string) =>
  callCounted("POST", `/v2/images/${id}/members`, { who: caller, raw });
const put = (id: string, member: string, caller: Who, body: unknown, vars?: Partial<Cloudflare.Env>) =>
  callCounted("PUT", `/v2/images/${id}/members/${member}`, { who: caller, body, vars });
const LEGACY = { POLICY_DEFAULTS: "legacy" };
const putRaw = (id: string, member: string, caller: Who, raw: string) =>
  callCounted("PUT", `/v2/images/${id}/members/${member}`, { who: caller, raw });

const memberCases: Case[] = [
  {
    route: "POST members",
    outcome: "403 the owner's reader (add_member)",
    status: 403,
    trips: 1,
    write: INSERT_MEMBER,
    run: async () => {
      const { owner, id } = await fixture();
      return add(id, who(owner, ["reader"]), { member_id: project("m") });
    },
  },
  // POST /v2/images/{id}/members (docs/reference.md §5.1)
  {
    route: "POST members",
    outcome: "200 added by the owner",
    status: 200,
    trips: 1,
    write: INSERT_MEMBER,
    run: async () => {
      const { owner, id } = await fixture();
      return add(id, who(owner), { member_id: project("m") });
    },
  },
  {
    route: "POST members",
    outcome: "200 added by an admin",
    status: 200,
    trips: 1,
    write: INSERT_MEMBER,
    run: async () => add((await fixture("private")).id, adminWho(), { member: project("m") }),
  },
  {
    route: "POST members",
    outcome: "404 image not visible",
    status: 404,
    trips: 1,
    write: INSERT_MEMBER,
    run: async () => add((await fixture()).id, who(project("stranger")), { member_id: project("m") }),
  },
  {
    route: "POST members",
    outcome: "403 public image",
    status: 403,
    trips: 1,
    write: INSERT_MEMBER,
    run: async () => {
      const { owner, id } = await fixture("public");
      return add(id, who(owner, ["admin"]), { member_id: project("m") });
    },
  },
  {
    route: "POST members",
    outcome: "403 community image",
    status: 403,
    trips: 1,
    write: INSERT_MEMBER,
    run: async () => {
      const { owner, id } = await fixture("community");
      return add(id, who(owner), { member_id: project("m") });
    },
  },
  {
    route: "POST members",
    outcome: "403 caller is a member, not the owner",
    status: 403,
    trips: 1,
    write: INSERT_MEMBER,
    run: async () => {
      const member = project("member");
      const { id } = await fixture("shared", [member]);
      return add(id, who(member), { member_id: project("m") });
    },
  },
  {
    route: "POST members",
    outcome: "413 member quota reached",
    status: 413,
    trips: 1,
    write: INSERT_MEMBER,
    run: async () => {
      const { owner, id } = await fixture("shared", [project("m")]);
      return add(id, who(owner), { member_id: project("m") }, { IMAGE_MEMBER_QUOTA: "1" });
    },
  },
  {
    route: "POST members",
    outcome: "409 duplicate member",
    status: 409,
    trips: 1,
    write: INSERT_MEMBER,
    run: async () => {
      const member = project("member");
      const { owner, id } = await fixture("shared", [member]);
      return add(id, who(owner), { member_id: member });
    },
  },
  ...(
    [
      ["empty body", ""],
      ["malformed JSON", "{"],
      ["JSON not an object", "[]"],
      ["no member key", '{"other": 1}'],
      ["member id null", '{"member_id": null}'],
      ["member id not a string", '{"member_id": 7}'],
      ["member id too long", JSON.stringify({ member_id: "x".repeat(256) })],
    ] as const
  ).map(
    ([outcome, raw]): Case => ({
      route: "POST members",
      outcome: `400 ${outcome}`,
      status: 400,
      trips: 0,
      run: async () => {
        const { owner, id } = await fixture();
        return addRaw(id, who(owner), raw);
      },
    }),
  ),
  {
    route: "POST members",
    outcome: "413 body over 64 KiB",
    status: 413,
    trips: 0,
    run: async () => {
      const { owner, id } = await fixture();
      return addRaw(id, who(owner), BIG);
    },
  },
  {
    route: "POST members",
    outcome: "401 identity not confirmed",
    status: 401,
    trips: 0,
    run: async () =>
      callCounted("POST", `/v2/images/${(await fixture()).id}/members`, { body: { member_id: "m" } }),
  },
  {
    route: "POST members",
    outcome: "401 no project",
    status: 401,
    trips: 0,
    run: async () => add((await fixture()).id, who(null), { member_id: "m" }),
  },

  // GET /v2/images/{id}/members (docs/reference.md §5.2)
  {
    route: "GET members",
    outcome: "200 as the owner",
    status: 200,
    trips: 1,
    run: async () => {
      const { owner, id } = await fixture("shared", [project("a"), project("b")]);
      return callCounted("GET", `/v2/images/${id}/members`, { who: who(owner) });
    },
  },
  {
    route: "GET members",
    outcome: "200 as a member (own row only)",
    status: 200,
    trips: 1,
    run: async () => {
      const member = project("member");
      const { id } = await fixture("private", [member, project("b")]);
      return callCounted("GET", `/v2/images/${id}/members`, { who: who(member) });
    },
  },
  {
    route: "GET members",
    outcome: "200 as an admin",
    status: 200,
    trips: 1,
    run: async () => {
      const { id } = await fixture("shared", [project("a")]);
      return callCounted("GET", `/v2/images/${id}/members`, { who: adminWho() });
    },
  },
  {
    route: "GET members",
    outcome: "404 image not visible",
    status: 404,
    trips: 1,
    run: async () =>
      callCounted("GET", `/v2/images/${(await fixture()).id}/members`, { who: who(project("x")) }),
  },
  {
    route: "GET members",
    outcome: "404 no such image",
    status: 404,
    trips: 1,
    run: async () =>
      callCounted("GET", `/v2/images/${crypto.randomUUID()}/members`, { who: who(project("x")) }),
  },
  {
    route: "GET members",
    outcome: "403 public image",
    status: 403,
    trips: 1,
    run: async () =>
      callCounted("GET", `/v2/images/${(await fixture("public")).id}/members`, { who: who(project("x")) }),
  },
  {
    route: "GET members",
    outcome: "403 community image",
    status: 403,
    trips: 1,
    run: async () => {
      const { owner, id } = await fixture("community");
      return callCounted("GET", `/v2/images/${id}/members`, { who: who(owner) });
    },
  },
  {
    route: "GET members",
    outcome: "401 no project",
    status: 401,
    trips: 0,
    run: async () => callCounted("GET", `/v2/images/${(await fixture()).id}/members`, { who: who(null) }),
  },

  // GET /v2/images/{id}/members/{member_id} (docs/reference.md §5.3)
  {
    route: "GET member",
    outcome: "200 as the owner",
    status: 200,
    trips: 1,
    run: async () => {
      const member = project("member");
      const { owner, id } = await fixture("shared", [member]);
      return callCounted("GET", `/v2/images/${id}/members/${member}`, { who: who(owner) });
    },
  },
  {
    route: "GET member",
    outcome: "200 as that member",
    status: 200,
    trips: 1,
    run: async () => {
      const member = project("member");
      const { id } = await fixture("shared", [member]);
      return callCounted("GET", `/v2/images/${id}/members/${member}`, { who: who(member) });
    },
  },
  {
    route: "GET member",
    outcome: "200 as an admin",
    status: 200,
    trips: 1,
    run: async () => {
      const member = project("member");
      const { id } = await fixture("shared", [member]);
      return callCounted("GET", `/v2/images/${id}/members/${member}`, { who: adminWho() });
    },
  },
  {
    route: "GET member",
    outcome: "404 image not visible",
    status: 404,
    trips: 1,
    run: async () => {
      const member = project("member");
      const { id } = await fixture("shared", [member]);
      return callCounted("GET", `/v2/images/${id}/members/${member}`, { who: who(project("x")) });
    },
  },
  {
    route: "GET member",
    outcome: "404 public image",
    status: 404,
    trips: 1,
    run: async () => {
      const { id } = await fixture("public");
      return callCounted("GET", `/v2/images/${id}/members/m`, { who: who(project("x")) });
    },
  },
  {
    route: "GET member",
    outcome: "404 no such member",
    status: 404,
    trips: 1,
    run: async () => {
      const { owner, id } = await fixture("shared", [project("m")]);
      return callCounted("GET", `/v2/images/${id}/members/${project("nobody")}`, { who: who(owner) });
    },
  },
  {
    route: "GET member",
    outcome: "404 a member asking for another's row",
    status: 404,
    trips: 1,
    run: async () => {
      const [a, b] = [project("a"), project("b")];
      const { id } = await fixture("shared", [a, b]);
      return callCounted("GET", `/v2/images/${id}/members/${b}`, { who: who(a) });
    },
  },
  {
    route: "GET member",
    outcome: "401 identity not confirmed",
    status: 401,
    trips: 0,
    run: async () => callCounted("GET", `/v2/images/${(await fixture()).id}/members/m`),
  },

  // PUT /v2/images/{id}/members/{member_id} (docs/reference.md §5.4)
  {
    route: "PUT member",
    outcome: "200 the member accepts",
    status: 200,
    trips: 1,
    write: UPDATE_MEMBER,
    run: async () => {
      const member = project("member");
      const { id } = await fixture("shared", [member]);
      return put(id, member, who(member), { status: "accepted" });
    },
  },
  {
    route: "PUT member",
    outcome: "200 an admin rejects",
    status: 200,
    trips: 1,
    write: UPDATE_MEMBER,
    run: async () => {
      const member = project("member");
      const { id } = await fixture("private", [member]);
      return put(id, member, adminWho(), { status: "rejected" });
    },
  },
  {
    route: "PUT member",
    outcome: "404 image not visible",
    status: 404,
    trips: 1,
    write: UPDATE_MEMBER,
    run: async () => {
      const member = project("member");
      const { id } = await fixture("shared", [member]);
      return put(id, member, who(project("x")), { status: "accepted" });
    },
  },
  {
    route: "PUT member",
    outcome: "403 public image",
    status: 403,
    trips: 1,
    write: UPDATE_MEMBER,
    run: async () => {
      const x = project("x");
      return put((await fixture("public")).id, x, who(x), { status: "accepted" });
    },
  },
  {
    route: "PUT member",
    outcome: "403 community image",
    status: 403,
    trips: 1,
    write: UPDATE_MEMBER,
    run: async () => {
      const x = project("x");
      return put((await fixture("community")).id, x, who(x), { status: "accepted" });
    },
  },
  {
    route: "PUT member",
    outcome: "403 the owner, legacy (member id that does not exist)",
    status: 403,
    trips: 1,
    write: UPDATE_MEMBER,
    run: async () => {
      const { owner, id } = await fixture("shared", [project("m")]);
      return put(id, project("nobody"), who(owner), { status: "accepted" }, LEGACY);
    },
  },
  {
    route: "PUT member",
    outcome: "403 the owner (modify_member)",
    status: 403,
    trips: 1,
    write: UPDATE_MEMBER,
    run: async () => {
      const m = project("m");
      const { owner, id } = await fixture("shared", [m]);
      return put(id, m, who(owner), { status: "accepted" });
    },
  },
  {
    route: "PUT member",
    outcome: "404 a member's user without roles (get_image)",
    status: 404,
    trips: 1,
    write: UPDATE_MEMBER,
    run: async () => {
      const m = project("m");
      const { id } = await fixture("shared", [m]);
      return put(id, m, who(m, []), { status: "accepted" });
    },
  },
  {
    route: "PUT member",
    outcome: "404 no such member (admin)",
    status: 404,
    trips: 1,
    write: UPDATE_MEMBER,
    run: async () => put((await fixture()).id, project("nobody"), adminWho(), { status: "accepted" }),
  },
  {
    route: "PUT member",
    outcome: "404 a member updating another's row",
    status: 404,
    trips: 1,
    write: UPDATE_MEMBER,
    run: async () => {
      const [a, b] = [project("a"), project("b")];
      const { id } = await fixture("shared", [a, b]);
      return put(id, b, who(a), { status: "accepted" });
    },
  },
  {
    route: "PUT member",
    outcome: "400 invalid status (after the lookups)",
    status: 400,
    trips: 1,
    run: async () => {
      const member = project("member");
      const { id } = await fixture("shared", [member]);
      return put(id, member, who(member), { status: "bogus" });
    },
  },
  {
    route: "PUT member",
    outcome: "400 status null (after the lookups)",
    status: 400,
    trips: 1,
    run: async () => {
      const member = project("member");
      const { id } = await fixture("shared", [member]);
      return put(id, member, who(member), { status: null });
    },
  },
  ...(
    [
      ["empty body", ""],
      ["malformed JSON", "status=accepted"],
      ["JSON not an object", '"accepted"'],
      ["no status key", '{"member": "x"}'],
    ] as const
  ).map(
    ([outcome, raw]): Case => ({
      route: "PUT member",
      outcome: `400 ${outcome}`,
      status: 400,
      trips: 0,
      run: async () => {
        const member = project("member");
        const { id } = await fixture("shared", [member]);
        return putRaw(id, member, who(member), raw);
      },
    }),
  ),
  {
    route: "PUT member",
    outcome: "401 no project",
    status: 401,
    trips: 0,
    run: async () => put((await fixture()).id, "m", who(null), { status: "accepted" }),
  },

  // DELETE /v2/images/{id}/members/{member_id} (docs/reference.md §5.5)
  {
    route: "DELETE member",
    outcome: "204 by the owner",
    status: 204,
    trips: 1,
    write: DELETE_MEMBER,
    run: async () => {
      const member = project("member");
      const { owner, id } = await fixture("shared", [member]);
      return callCounted("DELETE", `/v2/images/${id}/members/${member}`, { who: who(owner) });
    },
  },
  {
    route: "DELETE member",
    outcome: "204 by an admin",
    status: 204,
    trips: 1,
    write: DELETE_MEMBER,
    run: async () => {
      const member = project("member");
      const { id } = await fixture("private", [member]);
      return callCounted("DELETE", `/v2/images/${id}/members/${member}`, { who: adminWho() });
    },
  },
  {
    route: "DELETE member",
    outcome: "404 image not visible",
    status: 404,
    trips: 1,
    write: DELETE_MEMBER,
    run: async () => {
      const member = project("member");
      const { id } = await fixture("shared", [member]);
      return callCounted("DELETE", `/v2/images/${id}/members/${member}`, { who: who(project("x")) });
    },
  },
  {
    route: "DELETE member",
    outcome: "403 public image",
    status: 403,
    trips: 1,
    write: DELETE_MEMBER,
    run: async () => {
      const { owner, id } = await fixture("public");
      return callCounted("DELETE", `/v2/images/${id}/members/m`, { who: who(owner, ["admin"]) });
    },
  },
  {
    route: "DELETE member",
    outcome: "403 community image",
    status: 403,
    trips: 1,
    write: DELETE_MEMBER,
    run: async () => {
      const { owner, id } = await fixture("community");
      return callCounted("DELETE", `/v2/images/${id}/members/m`, { who: who(owner) });
    },
  },
  {
    route: "DELETE member",
    outcome: "403 a member removing itself",
    status: 403,
    trips: 1,
    write: DELETE_MEMBER,
    run: async () => {
      const member = project("member");
      const { id } = await fixture("shared", [member]);
      return callCounted("DELETE", `/v2/images/${id}/members/${member}`, { who: who(member) });
    },
  },
  {
    route: "DELETE member",
    outcome: "404 no such member",
    status: 404,
    trips: 1,
    write: DELETE_MEMBER,
    run: async () => {
      const { owner, id } = await fixture();
      return callCounted("DELETE", `/v2/images/${id}/members/${project("nobody")}`, { who: who(owner) });
    },
  },
  {
    route: "DELETE member",
    outcome: "400 body on DELETE",
    status: 400,
    trips: 0,
    run: async () => {
      const member = project("member");
      const { owner, id } = await fixture("shared", [member]);
      return callCounted("DELETE", `/v2/images/${id}/members/${member}`, { who: who(owner), raw: "{}" });
    },
  },
  {
    route: "DELETE member",
    outcome: "401 identity not confirmed",
    status: 401,
    trips: 0,
    run: async () => callCounted("DELETE", `/v2/images/${(await fixture()).id}/members/m`),
  },
];

const imageCases: Case[] = [
  {
    route: "GET image",
    outcome: "200 visible to a member",
    status: 200,
    trips: 1,
    run: async () => {
      const member = project("member");
      const { id } = await fixture("private", [member]);
      return callCounted("GET", `/v2/images/${id}`, { who: who(member) });
    },
  },
  {
    route: "GET image",
    outcome: "404 not visible",
    status: 404,
    trips: 1,
    run: async () => callCounted("GET", `/v2/images/${(await fixture()).id}`, { who: who(project("x")) }),
  },
  {
    route: "GET image",
    outcome: "404 no such image",
    status: 404,
    trips: 1,
    run: async () => callCounted("GET", `/v2/images/${crypto.randomUUID()}`, { who: who(project("x")) }),
  },
  {
    route: "GET images",
    outcome: "200 first page",
    status: 200,
    trips: 1,
    run: async () => {
      const { owner } = await fixture();
      await createImage(owner);
      return callCounted("GET", "/v2/images?limit=1", { who: who(owner) });
    },
  },
  {
    route: "GET images",
    outcome: "200 page after a marker",
    status: 200,
    trips: 1,
    run: async () => {
      const { owner, id } = await fixture();
      await createImage(owner);
      return callCounted("GET", `/v2/images?limit=1&marker=${id}`, { who: who(owner) });
    },
  },
  {
    route: "GET images",
    outcome: "200 filtered and sorted, as an admin",
    status: 200,
    trips: 1,
    run: async () => {
      const { owner, id } = await fixture("private");
      return callCounted("GET", `/v2/images?owner=${owner}&visibility=all&sort=name:asc&marker=${id}`, {
        who: adminWho(),
      });
    },
  },
  {
    route: "GET images",
    outcome: "400 marker not visible",
    status: 400,
    trips: 1,
    run: async () =>
      callCounted("GET", `/v2/images?marker=${(await fixture()).id}`, { who: who(project("x")) }),
  },
  {
    route: "GET images",
    outcome: "400 bad query (sort key)",
    status: 400,
    trips: 0,
    run: async () => callCounted("GET", "/v2/images?sort_key=nope", { who: who(project("x")) }),
  },
  {
    route: "GET images",
    outcome: "401 no project",
    status: 401,
    trips: 0,
    run: async () => callCounted("GET", "/v2/images", { who: who(null) }),
  },
  {
    route: "POST images",
    outcome: "201 created",
    status: 201,
    trips: 1,
    write: /^\s*INSERT INTO images\b/i,
    run: async () => callCounted("POST", "/v2/images", { who: who(project("owner")), body: { name: "n" } }),
  },
  {
    route: "POST images",
    outcome: "403 read-only attribute",
    status: 403,
    trips: 0,
    run: async () =>
      callCounted("POST", "/v2/images", { who: who(project("owner")), body: { status: "active" } }),
  },
  {
    route: "DELETE image",
    outcome: "204 by the owner",
    status: 204,
    trips: 1,
    write: /^\s*DELETE FROM images\b/i,
    run: async () => {
      const { owner, id } = await fixture("shared", [project("m")]);
      return callCounted("DELETE", `/v2/images/${id}`, { who: who(owner) });
    },
  },
  {
    route: "DELETE image",
    outcome: "403 protected",
    status: 403,
    trips: 1,
    write: /^\s*DELETE FROM images\b/i,
    run: async () => {
      const owner = project("owner");
      const id = await createImage(owner, { protected: true });
      return callCounted("DELETE", `/v2/images/${id}`, { who: who(owner) });
    },
  },
  {
    route: "PATCH image",
    outcome: "415 not a JSON patch",
    status: 415,
    trips: 0,
    run: async () => {
      const { owner, id } = await fixture();
      return callCounted("PATCH", `/v2/images/${id}`, {
        who: who(owner),
        raw: "[]",
        type: "application/json",
      });
    },
  },
  {
    route: "unknown path",
    outcome: "404",
    status: 404,
    trips: 0,
    run: async () => callCounted("GET", "/v2/nothing-here", { who: who(project("x")) }),
  },
  {
    route: "members path",
    outcome: "405 method not allowed",
    status: 405,
    trips: 0,
    run: async () =>
      callCounted("PATCH", `/v2/images/${(await fixture()).id}/members`, {
        who: who(project("x")),
        type: JSON_PATCH,
      }),
  },
];

// ------------------------------------------------------------------ docs/reference.md §12

/** A time `seconds` from now, as docs/reference.md §2 writes it. */
const inSeconds = (seconds: number) => `${new Date(Date.now() + seconds * 1000).toISOString().slice(0, 19)}Z`;
const PAST = "2000-01-01T00:00:00Z";

/** Moves a membership past its expiry (the database's clock decides; tests move the row instead). */
async function expireRow(imageId: string, memberId: string): Promise<void> {
  await env.DB.prepare("UPDATE image_members SET expires_at = ?3 WHERE image_id = ?1 AND member_id = ?2")
    .bind(imageId, memberId, PAST)
    .run();
}

const patch = (id: string, member: string, caller: Who, body: unknown, vars?: Partial<Cloudflare.Env>) =>
  callCounted("PATCH", `/v2/images/${id}/members/${member}`, {
    who: caller,
    body,
    vars,
    type: "application/json",
  });
const patchRaw = (id: string, member: string, caller: Who, raw: string) =>
  callCounted("PATCH", `/v2/images/${id}/members/${member}`, { who: caller, raw, type: "application/json" });
const bulk = (caller: Who, body: unknown, vars?: Partial<Cloudflare.Env>) =>
  callCounted("POST", "/v2/shares", { who: caller, body, vars });
const bulkRaw = (caller: Who, raw: string) => callCounted("POST", "/v2/shares", { who: caller, raw });

/** The marker of a listing's `next`. */
function markerOf(sent: Counted): string {
  const next = (JSON.parse(sent.text) as { next?: string }).next;
  expect(next, sent.text).toBeDefined();
  return new URLSearchParams((next as string).split("?")[1]).get("marker") as string;
}

/** An owner's two images shared with a member (one accepted), and the owner a member of another's. */
async function sharing() {
  const member = project("member");
  const a = await fixture("shared", [member, project("m")]);
  const b = await createImage(a.owner, { visibility: "private" });
  await addMember(a.owner, b, member);
  const theirs = await fixture("shared", [a.owner]);
  await put(a.id, member, who(member), { status: "accepted" });
  return { owner: a.owner, member, images: [a.id, b], theirs: theirs.id };
}

const sharingCases: Case[] = [
  // PATCH /v2/images/{id}/members/{member_id} (docs/reference.md §12.1)
  {
    route: "PATCH member",
    outcome: "200 the owner sets an expiry",
    status: 200,
    trips: 1,
    write: UPDATE_MEMBER,
    run: async () => {
      const member = project("member");
      const { owner, id } = await fixture("shared", [member]);
      return patch(id, member, who(owner), { expires_at: inSeconds(3600) });
    },
  },
  {
    route: "PATCH member",
    outcome: "200 an admin clears it",
    status: 200,
    trips: 1,
    write: UPDATE_MEMBER,
    run: async () => {
      const member = project("member");
      const { id } = await fixture("private", [member]);
      return patch(id, member, adminWho(), { expires_at: null });
    },
  },
  {
    route: "PATCH member",
    outcome: "403 the member itself (set_member_expiry)",
    status: 403,
    trips: 1,
    write: UPDATE_MEMBER,
    run: async () => {
      const member = project("member");
      const { id } = await fixture("shared", [member]);
      return patch(id, member, who(member), { expires_at: null });
    },
  },
  {
    route: "PATCH member",
    outcome: "403 a member, legacy (not the owner)",
    status: 403,
    trips: 1,
    write: UPDATE_MEMBER,
    run: async () => {
      const member = project("member");
      const { id } = await fixture("shared", [member]);
      return patch(id, member, who(member), { expires_at: null }, LEGACY);
    },
  },
  {
    route: "PATCH member",
    outcome: "403 community image",
    status: 403,
    trips: 1,
    write: UPDATE_MEMBER,
    run: async () => {
      const { owner, id } = await fixture("community");
      return patch(id, project("m"), who(owner), { expires_at: null });
    },
  },
  {
    route: "PATCH member",
    outcome: "404 image not visible",
    status: 404,
    trips: 1,
    write: UPDATE_MEMBER,
    run: async () => {
      const member = project("member");
      const { id } = await fixture("shared", [member]);
      return patch(id, member, who(project("x")), { expires_at: null });
    },
  },
  {
    route: "PATCH member",
    outcome: "404 no such member",
    status: 404,
    trips: 1,
    write: UPDATE_MEMBER,
    run: async () => {
      const { owner, id } = await fixture("shared", [project("m")]);
      return patch(id, project("nobody"), who(owner), { expires_at: null });
    },
  },
  {
    route: "PATCH member",
    outcome: "404 an expired member",
    status: 404,
    trips: 1,
    write: UPDATE_MEMBER,
    run: async () => {
      const member = project("member");
      const { owner, id } = await fixture("shared", [member]);
      await expireRow(id, member);
      return patch(id, member, who(owner), { expires_at: inSeconds(3600) });
    },
  },
  ...(
    [
      ["expiry in the past", { expires_at: PAST }],
      ["expiry over 10 years ahead", { expires_at: inSeconds(11 * 366 * 86_400) }],
      ["expiry not a time", { expires_at: "tomorrow" }],
      ["another key", { expires_at: null, status: "accepted" }],
      ["no expires_at key", {}],
      ["JSON not an object", [{ expires_at: null }]],
    ] as const
  ).map(
    ([outcome, body]): Case => ({
      route: "PATCH member",
      outcome: `400 ${outcome} (after the lookups)`,
      status: 400,
      trips: 1,
      run: async () => {
        const member = project("member");
        const { owner, id } = await fixture("shared", [member]);
        return patch(id, member, who(owner), body);
      },
    }),
  ),
  ...(
    [
      ["empty body", ""],
      ["malformed JSON", "{"],
    ] as const
  ).map(
    ([outcome, raw]): Case => ({
      route: "PATCH member",
      outcome: `400 ${outcome}`,
      status: 400,
      trips: 0,
      run: async () => {
        const member = project("member");
        const { owner, id } = await fixture("shared", [member]);
        return patchRaw(id, member, who(owner), raw);
      },
    }),
  ),
  {
    route: "PATCH member",
    outcome: "413 body over 64 KiB",
    status: 413,
    trips: 0,
    run: async () => {
      const member = project("member");
      const { owner, id } = await fixture("shared", [member]);
      return patchRaw(id, member, who(owner), JSON.stringify({ expires_at: "x".repeat(65 * 1024) }));
    },
  },
  {
    route: "PATCH member",
    outcome: "401 no project",
    status: 401,
    trips: 0,
    run: async () => patch((await fixture()).id, "m", who(null), { expires_at: null }),
  },

  // POST /v2/images/{id}/members with expires_at (docs/reference.md §12.1)
  {
    route: "POST members",
    outcome: "200 with an expiry",
    status: 200,
    trips: 1,
    write: INSERT_MEMBER,
    run: async () => {
      const { owner, id } = await fixture();
      return add(id, who(owner), { member_id: project("m"), expires_at: inSeconds(3600) });
    },
  },
  {
    route: "POST members",
    outcome: "200 re-adding an expired member (its row replaced in the same batch)",
    status: 200,
    trips: 1,
    write: INSERT_MEMBER,
    run: async () => {
      const member = project("member");
      const { owner, id } = await fixture("shared", [member]);
      await expireRow(id, member);
      return add(id, who(owner), { member_id: member, expires_at: null });
    },
  },
  ...(
    [
      ["expiry in the past", PAST],
      ["expiry not a time", "2030-01-01"],
      ["expiry not a date", "2030-02-30T00:00:00Z"],
      ["expiry a number", 1_900_000_000],
    ] as const
  ).map(
    ([outcome, expires_at]): Case => ({
      route: "POST members",
      outcome: `400 ${outcome}`,
      status: 400,
      trips: 0,
      run: async () => {
        const { owner, id } = await fixture();
        return add(id, who(owner), { member_id: project("m"), expires_at });
      },
    }),
  ),

  // GET /v2/shares (docs/reference.md §12.2)
  {
    route: "GET shares",
    outcome: "200 a project's inbox and outbox",
    status: 200,
    trips: 1,
    run: async () => callCounted("GET", "/v2/shares", { who: who((await sharing()).owner) }),
  },
  {
    route: "GET shares",
    outcome: "200 a member's inbox, filtered",
    status: 200,
    trips: 1,
    run: async () => {
      const { owner, member } = await sharing();
      return callCounted("GET", `/v2/shares?owner=${owner}&status=accepted&limit=1`, { who: who(member) });
    },
  },
  {
    route: "GET shares",
    outcome: "200 an admin, by image",
    status: 200,
    trips: 1,
    run: async () => {
      const { images } = await sharing();
      return callCounted("GET", `/v2/shares?image_id=${images[0]}&member_id=x`, { who: adminWho() });
    },
  },
  {
    route: "GET shares",
    outcome: "200 an admin, unfiltered",
    status: 200,
    trips: 1,
    run: async () => callCounted("GET", "/v2/shares?limit=5", { who: adminWho() }),
  },
  {
    route: "GET shares",
    outcome: "200 the page after a marker",
    status: 200,
    trips: 1,
    run: async () => {
      const { owner } = await sharing();
      const first = await callCounted("GET", "/v2/shares?limit=1", { who: who(owner) });
      return callCounted("GET", `/v2/shares?limit=1&marker=${markerOf(first)}`, { who: who(owner) });
    },
  },
  ...(
    [
      ["invalid marker", "marker=e30"],
      ["unknown filter", "colour=red"],
      ["status not a status", "status=deleted"],
      ["limit not a number", "limit=ten"],
      ["member_id twice", "member_id=a&member_id=b"],
    ] as const
  ).map(
    ([outcome, q]): Case => ({
      route: "GET shares",
      outcome: `400 ${outcome}`,
      status: 400,
      trips: 0,
      run: async () => callCounted("GET", `/v2/shares?${q}`, { who: who(project("x")) }),
    }),
  ),
  {
    route: "GET shares",
    outcome: "403 a user without roles (get_shares)",
    status: 403,
    trips: 0,
    run: async () => callCounted("GET", "/v2/shares", { who: who(project("x"), []) }),
  },
  {
    route: "GET shares",
    outcome: "401 no project",
    status: 401,
    trips: 0,
    run: async () => callCounted("GET", "/v2/shares", { who: who(null) }),
  },

  // POST /v2/shares (docs/reference.md §12.3)
  {
    route: "POST shares",
    outcome: "200 new and existing pairs",
    status: 200,
    trips: 1,
    write: INSERT_MEMBER,
    run: async () => {
      const { owner, member, images } = await sharing();
      return bulk(who(owner), { images, members: [member, project("new")], expires_at: inSeconds(3600) });
    },
  },
  {
    route: "POST shares",
    outcome: "200 by an admin, every pair existing",
    status: 200,
    trips: 1,
    write: INSERT_MEMBER,
    run: async () => {
      const { member, images } = await sharing();
      return bulk(adminWho(), { images, members: [member] });
    },
  },
  {
    route: "POST shares",
    outcome: "200 replacing an expired pair",
    status: 200,
    trips: 1,
    write: INSERT_MEMBER,
    run: async () => {
      const { owner, member, images } = await sharing();
      await expireRow(images[0] as string, member);
      return bulk(who(owner), { images, members: [member] });
    },
  },
  {
    route: "POST shares",
    outcome: "404 an image that does not exist (second in the list)",
    status: 404,
    trips: 1,
    write: INSERT_MEMBER,
    run: async () => {
      const { owner, images } = await sharing();
      return bulk(who(owner), { images: [images[0], crypto.randomUUID()], members: [project("m")] });
    },
  },
  {
    route: "POST shares",
    outcome: "404 a malformed image id",
    status: 404,
    trips: 1,
    write: INSERT_MEMBER,
    run: async () => bulk(who((await sharing()).owner), { images: ["not-a-uuid"], members: ["m"] }),
  },
  {
    route: "POST shares",
    outcome: "404 an image the caller cannot see",
    status: 404,
    trips: 1,
    write: INSERT_MEMBER,
    run: async () => {
      const { images } = await sharing();
      return bulk(who(project("x")), { images, members: ["m"] });
    },
  },
  {
    route: "POST shares",
    outcome: "403 a community image",
    status: 403,
    trips: 1,
    write: INSERT_MEMBER,
    run: async () => {
      const { owner, id } = await fixture("community");
      return bulk(who(owner), { images: [id], members: [project("m")] });
    },
  },
  {
    route: "POST shares",
    outcome: "403 a member sharing on (add_member)",
    status: 403,
    trips: 1,
    write: INSERT_MEMBER,
    run: async () => {
      const { member, images } = await sharing();
      return bulk(who(member), { images, members: [project("m")] });
    },
  },
  {
    route: "POST shares",
    outcome: "413 over an image's quota",
    status: 413,
    trips: 1,
    write: INSERT_MEMBER,
    run: async () => {
      const { owner, images } = await sharing();
      return bulk(who(owner), { images, members: [project("a"), project("b")] }, { IMAGE_MEMBER_QUOTA: "3" });
    },
  },
  ...(
    [
      ["JSON not an object", "[]"],
      ["no images", JSON.stringify({ images: [], members: ["m"] })],
      ["101 images", JSON.stringify({ images: Array(101).fill(crypto.randomUUID()), members: ["m"] })],
      ["an image id not a string", JSON.stringify({ images: [7], members: ["m"] })],
      ["no members", JSON.stringify({ images: [crypto.randomUUID()] })],
      ["an empty member id", JSON.stringify({ images: [crypto.randomUUID()], members: [""] })],
      ["an unknown key", JSON.stringify({ images: [crypto.randomUUID()], members: ["m"], expires: "x" })],
      [
        "expiry in the past",
        JSON.stringify({ images: [crypto.randomUUID()], members: ["m"], expires_at: PAST }),
      ],
      ["empty body", ""],
      ["malformed JSON", "{"],
    ] as const
  ).map(
    ([outcome, raw]): Case => ({
      route: "POST shares",
      outcome: `400 ${outcome}`,
      status: 400,
      trips: 0,
      run: async () => bulkRaw(who(project("owner")), raw),
    }),
  ),
  {
    route: "POST shares",
    outcome: "413 body over 64 KiB",
    status: 413,
    trips: 0,
    run: async () =>
      bulkRaw(who(project("owner")), JSON.stringify({ images: ["x".repeat(65 * 1024)], members: ["m"] })),
  },

  // GET /v2/member-events (docs/reference.md §12.4)
  {
    route: "GET member-events",
    outcome: "200 as the member",
    status: 200,
    trips: 1,
    run: async () => callCounted("GET", "/v2/member-events", { who: who((await sharing()).member) }),
  },
  {
    route: "GET member-events",
    outcome: "200 as the owner, filtered",
    status: 200,
    trips: 1,
    run: async () => {
      const { owner, member, images } = await sharing();
      return callCounted("GET", `/v2/member-events?image_id=${images[0]}&member_id=${member}&action=create`, {
        who: who(owner),
      });
    },
  },
  {
    route: "GET member-events",
    outcome: "200 an admin, since an hour ago",
    status: 200,
    trips: 1,
    run: async () =>
      callCounted("GET", `/v2/member-events?since=${inSeconds(-3600)}&limit=5`, { who: adminWho() }),
  },
  {
    route: "GET member-events",
    outcome: "200 the page after a marker",
    status: 200,
    trips: 1,
    run: async () => {
      const { owner } = await sharing();
      const first = await callCounted("GET", "/v2/member-events?limit=1", { who: who(owner) });
      return callCounted("GET", `/v2/member-events?limit=1&marker=${markerOf(first)}`, { who: who(owner) });
    },
  },
  ...(
    [
      ["invalid marker", "marker=WyJ4Il0"],
      ["action not an action", "action=rename"],
      ["since not a time", "since=yesterday"],
      ["unknown filter", "status=pending"],
    ] as const
  ).map(
    ([outcome, q]): Case => ({
      route: "GET member-events",
      outcome: `400 ${outcome}`,
      status: 400,
      trips: 0,
      run: async () => callCounted("GET", `/v2/member-events?${q}`, { who: who(project("x")) }),
    }),
  ),
  {
    route: "GET member-events",
    outcome: "403 a user without roles (get_member_events)",
    status: 403,
    trips: 0,
    run: async () => callCounted("GET", "/v2/member-events", { who: who(project("x"), []) }),
  },
];

/**
 * Checks beyond the count: a write is never preceded by a separate read in the same request
 * (check-then-write), so the round trip that carries it is the request's only one, and for the
 * cases that name a write, the refusals too came out of the transaction that tried it.
 */
function expectFolded(c: Case, sent: Counted) {
  const writeTrips = sent.trips.filter((t) => t.statements.some(isWrite));
  if (writeTrips.length > 0) {
    expect(sent.trips, "a write shares its round trip with every read of the request").toHaveLength(1);
  }
  if (c.write) {
    const only = sent.trips[0];
    expect(only?.statements.some((s) => c.write?.test(s.sql))).toBe(true);
  }
}

describe.each([
  ["member routes (docs/reference.md §5)", memberCases],
  ["image routes (docs/reference.md §8)", imageCases],
  ["sharing routes (docs/reference.md §12)", sharingCases],
])("round trips per request: %s", (_, cases) => {
  it.each(cases)("$route $outcome: $trips", async (c) => {
    const sent = await c.run();
    expect(sent.status, sent.text).toBe(c.status);
    expect(
      sent.trips.length,
      `round trips: ${JSON.stringify(sent.trips.map((t) => [t.kind, ...t.statements.map((s) => s.sql.slice(0, 60))]))}`,
    ).toBe(c.trips);
    expectFolded(c, sent);
  });
});

describe("writes are decided by the database, not by a read before them", () => {
  it("the member add checks visibility, ownership and the quota inside its INSERT", async () => {
    const { owner, id } = await fixture();
    const sent = await add(id, who(owner), { member_id: project("m") });
    const trip = sent.trips[0];
    expect(trip?.kind).toBe("batch");
    const insert = trip?.statements.find((s) => INSERT_MEMBER.test(s.sql));
    // INSERT ... SELECT ... WHERE: the conditions are the statement's, so concurrent adds cannot
    // slip between a check and the write.
    expect(insert?.sql).toMatch(
      /INSERT INTO image_members[\s\S]*\bSELECT\b[\s\S]*\bWHERE\b[\s\S]*COUNT\(\*\)/i,
    );
    // Any read in the batch comes first, only to explain a refusal in the same transaction.
    const work = trip?.statements.filter((s) => !isContext(s)) ?? [];
    expect(work.findIndex((s) => INSERT_MEMBER.test(s.sql))).toBe(work.length - 1);
  });

  it("the status update and the removal carry the image's rules in their WHERE", async () => {
    const member = project("member");
    const { owner, id } = await fixture("shared", [member]);
    for (const sent of [
      await put(id, member, who(member), { status: "accepted" }),
      await callCounted("DELETE", `/v2/images/${id}/members/${member}`, { who: who(owner) }),
    ]) {
      expect(sent.trips).toHaveLength(1);
      const write = sent.trips[0]?.statements.find(isWrite);
      expect(write?.sql).toMatch(/\bWHERE\b[\s\S]*\bEXISTS\s*\(\s*SELECT\b[\s\S]*\bFROM images\b/i);
    }
  });

  it("PATCH writes with a compare-and-set on the revision it read (read, then one guarded write)", async () => {
    // Not in issue 5's one-trip budget: PATCH applies JSON-patch in the Worker, so it reads the
    // image and writes only if nobody changed it since (optimistic, WHERE revision = ?).
    const { owner, id } = await fixture();
    const sent = await callCounted("PATCH", `/v2/images/${id}`, {
      who: who(owner),
      body: [{ op: "replace", path: "/name", value: "renamed" }],
      type: JSON_PATCH,
    });
    expect(sent.status, sent.text).toBe(200);
    expect(sent.trips.length).toBeLessThanOrEqual(2);
    for (const trip of sent.trips) {
      for (const s of trip.statements.filter(isWrite)) {
        expect(s.sql).toMatch(/\bWHERE\b[\s\S]*\brevision\s*=\s*\?/i);
      }
    }
  });
});

describe("the counting binding", () => {
  it("counts each statement execution, each batch and each exec as one round trip", async () => {
    const counting = countingDb(env.DB);
    const one = counting.db.prepare("SELECT ?1 AS v").bind(1);
    await one.first();
    await one.all();
    await one.raw();
    await counting.db.batch([one, counting.db.prepare("SELECT 2 AS v")]);
    await counting.db.exec("SELECT 3");
    expect(counting.trips.map((t) => [t.kind, t.statements.length])).toEqual([
      ["first", 1],
      ["all", 1],
      ["raw", 1],
      ["batch", 2],
      ["exec", 1],
    ]);
    expect(counting.trips[0]?.statements[0]).toEqual({ sql: "SELECT ?1 AS v", params: [1] });
  });

  it("counts through a session as through the binding", async () => {
    const counting = countingDb(env.DB);
    const session = counting.db.withSession("first-primary");
    await session.prepare("SELECT 1 AS v").first();
    await session.batch([session.prepare("SELECT 1 AS v"), session.prepare("SELECT 2 AS v")]);
    expect(counting.trips.map((t) => t.kind)).toEqual(["first", "batch"]);
  });
});

// ------------------------------------------------------------------ rows read (D1 meta.rows_read)

/**
 * What the round trips of docs/reference.md §12's routes cost inside D1: `meta.rows_read` (what D1 bills and
 * what bounds a query's time), as the counting binding sees it on each D1Result. The budget
 * below was set from measured figures with a margin (a test that exceeds it shows its figures):
 * a page must not read the caller's whole share history.
 */
/**
 * Budgets, from measured figures (a page of 25): an inbox page read
 * 77–78 rows (the same with 200 or 400 memberships), an outbox page of 200 memberships 407–431
 * (its arm reads and sorts every membership of the owner's images); an events page 25–52.
 */
const SHARES_PAGE_BUDGET = 600;
const EVENTS_PAGE_BUDGET = 100;

describe("rows read by docs/reference.md §12's routes", () => {
  it("the counting binding reports D1's rows_read for all(), run() and batch()", async () => {
    const counting = countingDb(env.DB);
    await counting.db.prepare("SELECT ?1 AS v").bind(1).all();
    await counting.db.batch([counting.db.prepare("SELECT 1 AS v"), counting.db.prepare("SELECT 2 AS v")]);
    await counting.db.prepare("SELECT 1 AS v").first();
    expect(counting.trips.map((t) => typeof t.rowsRead)).toEqual(["number", "number", "undefined"]);
    expect(rowsRead(counting.trips.slice(0, 2))).not.toBeNull();
    expect(rowsRead(counting.trips)).toBeNull();
  });

  it("each new route's successful request: D1 says the rows it read", async () => {
    for (const c of sharingCases.filter((c) => c.status === 200)) {
      const sent = await c.run();
      expect(sent.status, sent.text).toBe(200);
      expect(rowsRead(sent.trips), `${c.route} ${c.outcome}`).not.toBeNull();
    }
  });

  /** `images` images of a fresh owner, each shared with `members` (bulk, 100 images a call). */
  async function shared(images: number, members: string[]) {
    const owner = project("owner");
    const ids: string[] = [];
    for (let n = 0; n < images; n++) ids.push(await createImage(owner, { visibility: "shared" }));
    for (let at = 0; at < ids.length; at += 100) {
      const res = await bulk(who(owner), { images: ids.slice(at, at + 100), members });
      expect(res.status, res.text).toBe(200);
    }
    return { owner, ids };
  }

  const page = async (caller: Who, query = "limit=25") => {
    const first = await callCounted("GET", `/v2/shares?${query}`, { who: caller });
    expect(first.status, first.text).toBe(200);
    expect((JSON.parse(first.text) as { shares: unknown[] }).shares).toHaveLength(25);
    const second = await callCounted("GET", `/v2/shares?${query}&marker=${markerOf(first)}`, { who: caller });
    expect(second.status, second.text).toBe(200);
    return { first: rowsRead(first.trips) as number, second: rowsRead(second.trips) as number };
  };

  it("GET /v2/shares, a page of 25 for a project with 200 memberships, as member or as owner", async () => {
    // Inbox: the member of 200 images (of one owner). Outbox: the owner of two images with 100
    // members each. And an inbox of 400, to show that an inbox page does not grow with it.
    const inbox = project("inbox");
    await shared(200, [inbox]);
    const outbox = await shared(
      2,
      Array.from({ length: 100 }, () => project("m")),
    );
    const big = project("inbox");
    await shared(400, [big]);
    const figures = {
      inbox200: await page(who(inbox)),
      inbox400: await page(who(big)),
      outbox200: await page(who(outbox.owner)),
      filtered: await page(who(outbox.owner), "status=pending&limit=25"),
    };
    // Rows read, a page of 25 (first page, second page).
    const shown = JSON.stringify(figures);
    for (const [name, f] of Object.entries(figures)) {
      expect(f.first, `${name}: ${shown}`).toBeLessThan(SHARES_PAGE_BUDGET);
      expect(f.second, `${name}: ${shown}`).toBeLessThan(SHARES_PAGE_BUDGET);
    }
  }, 120_000);

  /**
   * An admin lists every membership (docs/reference.md §12.2); src/shares/store.ts means its page to be "one
   * walk of image_members_by_created", which stops after the page. So a page costs about what a
   * project's inbox page costs, however many memberships the database holds.
   */
  it("GET /v2/shares, a page of 25 for an admin reads no more than a project's page, whatever the database holds", async () => {
    await shared(300, [project("m")]);
    const total = (await env.DB.prepare("SELECT COUNT(*) AS n FROM image_members").first<{ n: number }>())?.n;
    const figures = {
      admin: await page(adminWho()),
      adminPending: await page(adminWho(), "status=pending&limit=25"),
    };
    // Rows read, a page of 25 (first page, second page).
    const shown = `${JSON.stringify(figures)}; ${total} memberships in the database`;
    for (const [name, f] of Object.entries(figures)) {
      expect(f.first, `${name}: ${shown}`).toBeLessThan(SHARES_PAGE_BUDGET);
      expect(f.second, `${name}: ${shown}`).toBeLessThan(SHARES_PAGE_BUDGET);
    }
  }, 120_000);

  it("GET /v2/member-events, a page of 25: a project with 200 records, and an admin", async () => {
    const inbox = project("inbox");
    const { owner } = await shared(200, [inbox]);
    const events = async (caller: Who, query = "limit=25") => {
      const first = await callCounted("GET", `/v2/member-events?${query}`, { who: caller });
      expect(first.status, first.text).toBe(200);
      expect((JSON.parse(first.text) as { events: unknown[] }).events).toHaveLength(25);
      const second = await callCounted("GET", `/v2/member-events?${query}&marker=${markerOf(first)}`, {
        who: caller,
      });
      return { first: rowsRead(first.trips) as number, second: rowsRead(second.trips) as number };
    };
    const figures = {
      member: await events(who(inbox)),
      owner: await events(who(owner)),
      admin: await events(adminWho()),
      adminByAction: await events(adminWho(), "action=create&limit=25"),
    };
    // Rows read, a page of 25 (first page, second page).
    const shown = JSON.stringify(figures);
    for (const [name, f] of Object.entries(figures)) {
      expect(f.first, `${name}: ${shown}`).toBeLessThan(EVENTS_PAGE_BUDGET);
      expect(f.second, `${name}: ${shown}`).toBeLessThan(EVENTS_PAGE_BUDGET);
    }
  }, 120_000);
});
