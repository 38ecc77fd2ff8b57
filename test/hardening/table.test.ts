import { describe, expect, it } from "vitest";
import { type Actor, msg, type Op, step, type Visibility, type World } from "./model";
import { BASE, fetchApp, identityHeaders, LEAK } from "./support";

/**
 * The authorization matrix written out by hand from SPEC §4 and §5: caller × route × visibility
 * → status and message. Every cell is sent to the real app on a fresh image whose members are
 * one pending, one accepted and one rejected project; and the reference model (model.ts) must
 * give the same answer, so the table also checks the model the property test relies on.
 *
 * Members act on their own row; the owner, the stranger and the admin act on the accepted
 * member's row (show) or the pending member's row (update, delete). POST adds a new project.
 */
const CALLERS = ["owner", "pending", "accepted", "rejected", "stranger", "admin"] as const;
type CallerKind = (typeof CALLERS)[number];
const ROUTES = [
  "POST members",
  "GET members",
  "GET member",
  "PUT member",
  "DELETE member",
  "GET image",
] as const;
type Route = (typeof ROUTES)[number];

/** Outcome codes: a success status, or a status and which SPEC message. */
type Code =
  | "200"
  | "204"
  | "404 image" // Image {image_id} not found.
  | "404 no image" // No image found with ID {image_id}
  | "404 no members" // Only shared images have members.
  | "404 member" // {member_id} not found in the member list of the image {image_id}.
  | "403 create"
  | "403 update"
  | "403 delete" // Not allowed to {action} members for image {image_id}.
  | "403 list"; // Not allowed to list members for image {image_id}: Only shared images have members.

type Row = Record<CallerKind, Code>;
const row = (
  owner: Code,
  pending: Code,
  accepted: Code,
  rejected: Code,
  stranger: Code,
  admin: Code,
): Row => ({
  owner,
  pending,
  accepted,
  rejected,
  stranger,
  admin,
});

// biome-ignore format: the grid is the point
const TABLE: Record<Route, Record<Visibility, Row>> = {
  //                    owner             pending           accepted          rejected          stranger          admin
  "POST members": {
    shared:    row("200",             "403 create",     "403 create",     "403 create",     "404 image",      "200"),
    private:   row("200",             "403 create",     "403 create",     "403 create",     "404 image",      "200"),
    public:    row("403 create",      "403 create",     "403 create",     "403 create",     "403 create",     "403 create"),
    community: row("403 create",      "403 create",     "403 create",     "403 create",     "403 create",     "403 create"),
  },
  "GET members": {
    shared:    row("200",             "200",            "200",            "200",            "404 image",      "200"),
    private:   row("200",             "200",            "200",            "200",            "404 image",      "200"),
    public:    row("403 list",        "403 list",       "403 list",       "403 list",       "403 list",       "403 list"),
    community: row("403 list",        "403 list",       "403 list",       "403 list",       "403 list",       "403 list"),
  },
  "GET member": {
    shared:    row("200",             "200",            "200",            "200",            "404 image",      "200"),
    private:   row("200",             "200",            "200",            "200",            "404 image",      "200"),
    public:    row("404 no members",  "404 no members", "404 no members", "404 no members", "404 no members", "404 no members"),
    community: row("404 no members",  "404 no members", "404 no members", "404 no members", "404 no members", "404 no members"),
  },
  "PUT member": {
    shared:    row("403 update",      "200",            "200",            "200",            "404 image",      "200"),
    private:   row("403 update",      "200",            "200",            "200",            "404 image",      "200"),
    public:    row("403 update",      "403 update",     "403 update",     "403 update",     "403 update",     "403 update"),
    community: row("403 update",      "403 update",     "403 update",     "403 update",     "403 update",     "403 update"),
  },
  "DELETE member": {
    shared:    row("204",             "403 delete",     "403 delete",     "403 delete",     "404 image",      "204"),
    private:   row("204",             "403 delete",     "403 delete",     "403 delete",     "404 image",      "204"),
    public:    row("403 delete",      "403 delete",     "403 delete",     "403 delete",     "403 delete",     "403 delete"),
    community: row("403 delete",      "403 delete",     "403 delete",     "403 delete",     "403 delete",     "403 delete"),
  },
  "GET image": {
    shared:    row("200",             "200",            "200",            "200",            "404 no image",   "200"),
    private:   row("200",             "200",            "200",            "200",            "404 no image",   "200"),
    public:    row("200",             "200",            "200",            "200",            "200",            "200"),
    community: row("200",             "200",            "200",            "200",            "200",            "200"),
  },
};

/**
 * Cells off the main grid: a member acting on another member's row, and rows that do not
 * exist. [caller, route, target member, expected] on a shared image.
 */
const OFF_GRID: [CallerKind, Route, "accepted" | "pending" | "nobody", Code][] = [
  ["pending", "GET member", "accepted", "404 member"],
  ["rejected", "GET member", "accepted", "404 member"],
  ["accepted", "PUT member", "pending", "404 member"],
  ["rejected", "PUT member", "accepted", "404 member"],
  ["accepted", "DELETE member", "pending", "403 delete"],
  ["owner", "GET member", "nobody", "404 member"],
  ["admin", "GET member", "nobody", "404 member"],
  ["owner", "PUT member", "nobody", "403 update"], // the owner never sets a status, even for nobody
  ["admin", "PUT member", "nobody", "404 member"],
  ["owner", "DELETE member", "nobody", "404 member"],
  ["admin", "DELETE member", "nobody", "404 member"],
];

const r = crypto.randomUUID().slice(0, 8);
const cast: Record<CallerKind, Actor> = {
  owner: { project: `owner-${r}`, admin: false },
  pending: { project: `pending-${r}`, admin: false },
  accepted: { project: `accepted-${r}`, admin: false },
  rejected: { project: `rejected-${r}`, admin: false },
  stranger: { project: `stranger-${r}`, admin: false },
  admin: { project: `admin-${r}`, admin: true },
};
const NEW_MEMBER = `new-${r}`;

async function send(who: Actor, method: string, path: string, body?: unknown, type = "application/json") {
  const headers: Record<string, string> = { ...identityHeaders(who), Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = type;
  const res = await fetchApp(
    new Request(`${BASE}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
  );
  const text = await res.text();
  return { status: res.status, text, type: res.headers.get("Content-Type") };
}

/** A fresh image of `visibility` with a pending, an accepted and a rejected member. */
async function fixture(visibility: Visibility): Promise<string> {
  const id = crypto.randomUUID();
  const ok = async (p: Promise<{ status: number; text: string }>, status: number) => {
    const res = await p;
    expect(res.status, res.text).toBe(status);
  };
  await ok(send(cast.owner, "POST", "/v2/images", { id, name: "table" }), 201);
  for (const m of ["pending", "accepted", "rejected"] as const)
    await ok(send(cast.owner, "POST", `/v2/images/${id}/members`, { member_id: cast[m].project }), 200);
  for (const m of ["accepted", "rejected"] as const)
    await ok(send(cast[m], "PUT", `/v2/images/${id}/members/${cast[m].project}`, { status: m }), 200);
  if (visibility !== "shared") {
    const who = visibility === "public" ? cast.admin : cast.owner;
    await ok(
      send(
        who,
        "PATCH",
        `/v2/images/${id}`,
        [{ op: "replace", path: "/visibility", value: visibility }],
        "application/openstack-images-v2.1-json-patch",
      ),
      200,
    );
  }
  return id;
}

/** The same image in the model's terms (timestamps do not matter to these outcomes). */
function modelWorld(id: string, visibility: Visibility): World {
  const at = "2000-01-01T00:00:00Z";
  return {
    quota: 128,
    images: [
      {
        id,
        owner: cast.owner.project,
        visibility,
        name: "table",
        tags: [],
        createdAt: at,
        updatedAt: at,
        members: (["pending", "accepted", "rejected"] as const).map((s) => ({
          memberId: cast[s].project,
          status: s,
          createdAt: at,
          updatedAt: at,
        })),
      },
    ],
  };
}

function targetOf(caller: CallerKind, route: Route): string {
  if (caller === "pending" || caller === "accepted" || caller === "rejected") return cast[caller].project;
  return route === "GET member" ? cast.accepted.project : cast.pending.project;
}

function opFor(caller: CallerKind, route: Route, id: string, target: string): Op {
  const actor = cast[caller];
  switch (route) {
    case "POST members":
      return { kind: "addMember", actor, image: id, body: { member_id: NEW_MEMBER } };
    case "GET members":
      return { kind: "listMembers", actor, image: id };
    case "GET member":
      return { kind: "showMember", actor, image: id, member: target };
    case "PUT member":
      return { kind: "updateMember", actor, image: id, member: target, status: "accepted" };
    case "DELETE member":
      return { kind: "deleteMember", actor, image: id, member: target };
    case "GET image":
      return { kind: "showImage", actor, image: id };
  }
}

function request(op: Op) {
  const m = (image: string) => `/v2/images/${image}/members`;
  switch (op.kind) {
    case "addMember":
      return send(op.actor, "POST", m(op.image), op.body);
    case "listMembers":
      return send(op.actor, "GET", m(op.image));
    case "showMember":
      return send(op.actor, "GET", `${m(op.image)}/${op.member}`);
    case "updateMember":
      return send(op.actor, "PUT", `${m(op.image)}/${op.member}`, { status: op.status });
    case "deleteMember":
      return send(op.actor, "DELETE", `${m(op.image)}/${op.member}`);
    case "showImage":
      return send(op.actor, "GET", `/v2/images/${op.image}`);
    default:
      throw new Error(`no request for ${op.kind}`);
  }
}

function message(code: Code, id: string, target: string): string | null {
  switch (code) {
    case "200":
    case "204":
      return null;
    case "404 image":
      return msg.imageNotFound(id);
    case "404 no image":
      return msg.noImage(id);
    case "404 no members":
      return msg.noMembers;
    case "404 member":
      return msg.memberNotFound(id, target);
    case "403 create":
      return msg.notAllowed("create", id);
    case "403 update":
      return msg.notAllowed("update", id);
    case "403 delete":
      return msg.notAllowed("delete", id);
    case "403 list":
      return msg.listNotAllowed(id);
  }
}

const REASON: Record<number, string> = { 403: "Forbidden", 404: "Not Found" };

/** What the app answered agrees with the cell: status, message, and for successes the rows. */
async function check(
  caller: CallerKind,
  route: Route,
  id: string,
  target: string,
  code: Code,
  visibility: Visibility,
) {
  const op = opFor(caller, route, id, target);
  const res = await request(op);
  const status = Number(code.slice(0, 3));
  const text = res.text;
  expect(res.status, text).toBe(status);
  expect(text).not.toMatch(LEAK);
  const want = message(code, id, target);
  if (want !== null) {
    expect(res.type).toBe("application/json");
    expect(JSON.parse(text)).toStrictEqual({
      message: want,
      code: `${status} ${REASON[status]}`,
      title: REASON[status],
    });
  } else if (status === 204) {
    expect(text).toBe("");
  } else {
    const body = JSON.parse(text);
    switch (route) {
      case "GET members": {
        const seesAll = caller === "owner" || caller === "admin";
        const rows = (body.members as { member_id: string; status: string }[])
          .map((m) => `${m.member_id}=${m.status}`)
          .sort();
        const expected = seesAll
          ? (["pending", "accepted", "rejected"] as const).map((s) => `${cast[s].project}=${s}`).sort()
          : [`${cast[caller].project}=${caller}`];
        expect(rows).toEqual(expected);
        break;
      }
      case "GET member":
        expect([body.member_id, body.image_id]).toEqual([target, id]);
        break;
      case "PUT member":
        expect([body.member_id, body.status]).toEqual([target, "accepted"]);
        break;
      case "POST members":
        expect([body.member_id, body.status]).toEqual([NEW_MEMBER, "pending"]);
        break;
      case "GET image":
        expect([body.id, body.visibility]).toEqual([id, visibility]);
        break;
      default:
        throw new Error(`unexpected success for ${route}`);
    }
  }
  // The model must agree with the hand-written cell.
  const modelled = step(modelWorld(id, visibility), op).expected;
  expect({ status: modelled.status, message: "message" in modelled ? modelled.message : null }).toEqual({
    status,
    message: want,
  });
}

describe("authorization table: caller × route × visibility", () => {
  for (const route of ROUTES) {
    for (const visibility of ["shared", "private", "public", "community"] as const) {
      it(`${route} on a ${visibility} image`, async () => {
        for (const caller of CALLERS) {
          const id = await fixture(visibility);
          const code = TABLE[route][visibility][caller];
          await check(caller, route, id, targetOf(caller, route), code, visibility);
        }
      });
    }
  }
});

describe("authorization table: rows that are not the caller's, rows that do not exist", () => {
  for (const [caller, route, target, code] of OFF_GRID) {
    it(`${caller} ${route} of ${target}: ${code}`, async () => {
      const id = await fixture("shared");
      const member = target === "nobody" ? `nobody-${r}` : cast[target].project;
      await check(caller, route, id, member, code, "shared");
    });
  }
});

describe("the table is exhaustive", () => {
  it("has a cell for every caller, route and visibility", () => {
    let cells = 0;
    for (const route of ROUTES)
      for (const v of ["shared", "private", "public", "community"] as const)
        for (const c of CALLERS) if (TABLE[route][v][c]) cells++;
    expect(cells).toBe(6 * 6 * 4);
  });
});
