import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, JSON_PATCH, LEAK, REASONS } from "../helpers";
import {
  type Actor,
  differences,
  type Membership,
  msg,
  type Op,
  type Policy,
  policyVars,
  ROLE_SETS,
  type RoleSetName,
  type RuleSet,
  step,
  type Visibility,
  type World,
} from "./model";

/**
 * The authorization matrix written out by hand from docs/reference.md §4, §5 and §11 and Glance's order of
 * checks: rule set × route × visibility × the caller's relation to the image × its roles →
 * status and message. Every cell is sent to the real app on an image whose members are one
 * pending, one accepted and one rejected project (a fresh one after every successful write);
 * the answer must be the cell's, status and body; a refused write must change no member row;
 * and the reference model (model.ts) must give the same answer, so the table also checks the
 * model the property test relies on.
 *
 * Members act on their own row; the owner and the stranger act on the accepted member's row
 * (show) or the pending member's row (update, delete). POST adds a new project.
 */
const RELATIONS = ["owner", "pending", "accepted", "rejected", "stranger"] as const;
type Relation = (typeof RELATIONS)[number];
/** The table's columns: the role sets a Keystone token carries. */
const ROLES = ["none", "reader", "member", "admin"] as const satisfies readonly RoleSetName[];
const ROUTES = [
  "POST members",
  "GET members",
  "GET member",
  "PUT member",
  "DELETE member",
  "GET image",
] as const;
type Route = (typeof ROUTES)[number];

/** Outcome codes: a success status, or a status and which message. */
type Code =
  | "200"
  | "204"
  | "404 image" // Image {image_id} not found.
  | "404 no image" // No image found with ID {image_id}
  | "404 no members" // Only shared images have members.
  | "404 member" // {member_id} not found in the member list of the image {image_id}.
  | "404 hidden" // The resource could not be found.  (get_image failed: §11)
  | "403 create"
  | "403 update"
  | "403 delete" // Not allowed to {action} members for image {image_id}.
  | "403 list" // Not allowed to list members for image {image_id}: Only shared images have members.
  | "403 add_member"
  | "403 modify_member"
  | "403 delete_member"
  | "403 get_member"
  | "403 get_members" // You are not authorized to complete {rule} action.
  | "404 get_member" // the same words, as show() answers them
  | "400"; // Incorrect request: Status must be "pending", "accepted" or "rejected".

/** One relation's cells: roles none, reader, member (+reader), admin (+member+reader). */
type Cells = readonly [Code, Code, Code, Code];
type Block = Record<Relation, Cells>;
const block = (owner: Cells, pending: Cells, accepted: Cells, rejected: Cells, stranger: Cells): Block => ({
  owner,
  pending,
  accepted,
  rejected,
  stranger,
});
const everyone = (c: Code): Block => {
  const cells: Cells = [c, c, c, c];
  return block(cells, cells, cells, cells, cells);
};

/** Per route: the block for images that take members (shared, private) and those that do not. */
type Grid = Record<Route, { shared: Block; public: Block }>;

// biome-ignore format: the grid is the point
const SECURE_RBAC: Grid = {
  //                        none            reader                member                admin
  "POST members": {
    shared: block(
      /* owner    */ ["404 hidden",   "403 add_member",    "200",               "200"],
      /* pending  */ ["404 hidden",   "403 add_member",    "403 add_member",    "200"],
      /* accepted */ ["404 hidden",   "403 add_member",    "403 add_member",    "200"],
      /* rejected */ ["404 hidden",   "403 add_member",    "403 add_member",    "200"],
      /* stranger */ ["404 image",    "404 image",         "404 image",         "200"],
    ),
    public: everyone("403 create"),
  },
  "GET members": {
    shared: block(
      /* owner    */ ["404 hidden",   "200",               "200",               "200"],
      /* pending  */ ["404 hidden",   "200",               "200",               "200"],
      /* accepted */ ["404 hidden",   "200",               "200",               "200"],
      /* rejected */ ["404 hidden",   "200",               "200",               "200"],
      /* stranger */ ["404 image",    "404 image",         "404 image",         "200"],
    ),
    public: everyone("403 list"),
  },
  "GET member": {
    shared: block(
      /* owner    */ ["404 hidden",   "200",               "200",               "200"],
      /* pending  */ ["404 hidden",   "200",               "200",               "200"],
      /* accepted */ ["404 hidden",   "200",               "200",               "200"],
      /* rejected */ ["404 hidden",   "200",               "200",               "200"],
      /* stranger */ ["404 image",    "404 image",         "404 image",         "200"],
    ),
    public: everyone("404 no members"),
  },
  "PUT member": {
    shared: block(
      /* owner    */ ["404 hidden",   "403 modify_member", "403 modify_member", "200"],
      /* pending  */ ["404 hidden",   "403 modify_member", "200",               "200"],
      /* accepted */ ["404 hidden",   "403 modify_member", "200",               "200"],
      /* rejected */ ["404 hidden",   "403 modify_member", "200",               "200"],
      /* stranger */ ["404 image",    "404 image",         "404 image",         "200"],
    ),
    public: everyone("403 update"),
  },
  "DELETE member": {
    shared: block(
      /* owner    */ ["404 hidden",   "403 delete_member", "204",               "204"],
      /* pending  */ ["404 hidden",   "403 delete_member", "403 delete_member", "204"],
      /* accepted */ ["404 hidden",   "403 delete_member", "403 delete_member", "204"],
      /* rejected */ ["404 hidden",   "403 delete_member", "403 delete_member", "204"],
      /* stranger */ ["404 image",    "404 image",         "404 image",         "204"],
    ),
    public: everyone("403 delete"),
  },
  "GET image": {
    shared: block(
      /* owner    */ ["404 hidden",   "200",               "200",               "200"],
      /* pending  */ ["404 hidden",   "200",               "200",               "200"],
      /* accepted */ ["404 hidden",   "200",               "200",               "200"],
      /* rejected */ ["404 hidden",   "200",               "200",               "200"],
      /* stranger */ ["404 no image", "404 no image",      "404 no image",      "200"],
    ),
    public: block(
      /* owner    */ ["404 hidden",   "200",               "200",               "200"],
      /* pending  */ ["404 hidden",   "200",               "200",               "200"],
      /* accepted */ ["404 hidden",   "200",               "200",               "200"],
      /* rejected */ ["404 hidden",   "200",               "200",               "200"],
      /* stranger */ ["404 hidden",   "200",               "200",               "200"],
    ),
  },
};

// Glance ≤ Zed: no role matters but admin; docs/reference.md §4–§5 as written.
// biome-ignore format: the grid is the point
const LEGACY: Grid = {
  //                        none            reader                member                admin
  "POST members": {
    shared: block(
      /* owner    */ ["200",          "200",               "200",               "200"],
      /* pending  */ ["403 create",   "403 create",        "403 create",        "200"],
      /* accepted */ ["403 create",   "403 create",        "403 create",        "200"],
      /* rejected */ ["403 create",   "403 create",        "403 create",        "200"],
      /* stranger */ ["404 image",    "404 image",         "404 image",         "200"],
    ),
    public: everyone("403 create"),
  },
  "GET members": {
    shared: block(
      /* owner    */ ["200",          "200",               "200",               "200"],
      /* pending  */ ["200",          "200",               "200",               "200"],
      /* accepted */ ["200",          "200",               "200",               "200"],
      /* rejected */ ["200",          "200",               "200",               "200"],
      /* stranger */ ["404 image",    "404 image",         "404 image",         "200"],
    ),
    public: everyone("403 list"),
  },
  "GET member": {
    shared: block(
      /* owner    */ ["200",          "200",               "200",               "200"],
      /* pending  */ ["200",          "200",               "200",               "200"],
      /* accepted */ ["200",          "200",               "200",               "200"],
      /* rejected */ ["200",          "200",               "200",               "200"],
      /* stranger */ ["404 image",    "404 image",         "404 image",         "200"],
    ),
    public: everyone("404 no members"),
  },
  "PUT member": {
    shared: block(
      /* owner    */ ["403 update",   "403 update",        "403 update",        "200"],
      /* pending  */ ["200",          "200",               "200",               "200"],
      /* accepted */ ["200",          "200",               "200",               "200"],
      /* rejected */ ["200",          "200",               "200",               "200"],
      /* stranger */ ["404 image",    "404 image",         "404 image",         "200"],
    ),
    public: everyone("403 update"),
  },
  "DELETE member": {
    shared: block(
      /* owner    */ ["204",          "204",               "204",               "204"],
      /* pending  */ ["403 delete",   "403 delete",        "403 delete",        "204"],
      /* accepted */ ["403 delete",   "403 delete",        "403 delete",        "204"],
      /* rejected */ ["403 delete",   "403 delete",        "403 delete",        "204"],
      /* stranger */ ["404 image",    "404 image",         "404 image",         "204"],
    ),
    public: everyone("403 delete"),
  },
  "GET image": {
    shared: block(
      /* owner    */ ["200",          "200",               "200",               "200"],
      /* pending  */ ["200",          "200",               "200",               "200"],
      /* accepted */ ["200",          "200",               "200",               "200"],
      /* rejected */ ["200",          "200",               "200",               "200"],
      /* stranger */ ["404 no image", "404 no image",      "404 no image",      "200"],
    ),
    public: everyone("200"),
  },
};

const TABLES: Record<RuleSet, Grid> = { "secure-rbac": SECURE_RBAC, legacy: LEGACY };

/** docs/reference.md §10.2: private images take members as shared ones do; community ones are like public. */
const blockOf = (rules: RuleSet, route: Route, v: Visibility) =>
  TABLES[rules][route][v === "shared" || v === "private" ? "shared" : "public"];

/**
 * Cells off the main grid, on a shared image: a member acting on another member's row, rows
 * that do not exist, the owner's own membership, an invalid status (checked last), and rules
 * an operator denied with `"!"` (reaching the refusals the defaults never give).
 */
interface OffGrid {
  rules: RuleSet;
  caller: Relation;
  roles: RoleSetName;
  route: Route;
  target: "accepted" | "pending" | "nobody" | "owner";
  code: Code;
  status?: string;
  denied?: Policy["denied"];
}
const off = (
  rules: RuleSet,
  caller: Relation,
  roles: RoleSetName,
  route: Route,
  target: OffGrid["target"],
  code: Code,
  extra: Pick<OffGrid, "status" | "denied"> = {},
): OffGrid => ({ rules, caller, roles, route, target, code, ...extra });

const OFF_GRID: OffGrid[] = [
  // A member reads and writes only its own row; another's is "not found", before modify_member.
  off("secure-rbac", "pending", "member", "GET member", "accepted", "404 member"),
  off("secure-rbac", "rejected", "reader", "GET member", "accepted", "404 member"),
  off("secure-rbac", "accepted", "member", "PUT member", "pending", "404 member"),
  off("secure-rbac", "accepted", "reader", "PUT member", "pending", "404 member"),
  off("secure-rbac", "accepted", "member", "DELETE member", "pending", "404 member"),
  off("legacy", "pending", "member", "GET member", "accepted", "404 member"),
  off("legacy", "rejected", "none", "PUT member", "accepted", "404 member"),
  off("legacy", "accepted", "member", "DELETE member", "pending", "403 delete"),
  // Rows that do not exist: under secure-rbac the owner reaches the row (404) before
  // modify_member; under legacy the owner never sets a status, even for nobody.
  off("secure-rbac", "owner", "member", "GET member", "nobody", "404 member"),
  off("secure-rbac", "owner", "member", "PUT member", "nobody", "404 member"),
  off("secure-rbac", "owner", "reader", "PUT member", "nobody", "404 member"),
  off("secure-rbac", "owner", "member", "DELETE member", "nobody", "404 member"),
  off("secure-rbac", "owner", "reader", "DELETE member", "nobody", "404 member"),
  off("secure-rbac", "stranger", "admin", "GET member", "nobody", "404 member"),
  off("secure-rbac", "stranger", "admin", "PUT member", "nobody", "404 member"),
  off("secure-rbac", "stranger", "admin", "DELETE member", "nobody", "404 member"),
  off("legacy", "owner", "member", "GET member", "nobody", "404 member"),
  off("legacy", "owner", "member", "PUT member", "nobody", "403 update"),
  off("legacy", "owner", "member", "DELETE member", "nobody", "404 member"),
  off("legacy", "stranger", "admin", "PUT member", "nobody", "404 member"),
  off("legacy", "stranger", "admin", "DELETE member", "nobody", "404 member"),
  // The owner's own membership (docs/reference.md §5.1): the owner still never sets its status (the target
  // has no member_id for the owner), but removes it like any other row.
  off("secure-rbac", "owner", "member", "PUT member", "owner", "403 modify_member"),
  off("secure-rbac", "owner", "member", "GET member", "owner", "200"),
  off("secure-rbac", "owner", "member", "DELETE member", "owner", "204"),
  off("secure-rbac", "owner", "admin", "PUT member", "owner", "200"),
  off("legacy", "owner", "member", "PUT member", "owner", "403 update"),
  // The status is checked last: after every rule.
  off("secure-rbac", "accepted", "member", "PUT member", "accepted", "400", { status: "bogus" }),
  off("secure-rbac", "accepted", "reader", "PUT member", "accepted", "403 modify_member", {
    status: "bogus",
  }),
  off("secure-rbac", "accepted", "none", "PUT member", "accepted", "404 hidden", { status: "bogus" }),
  off("secure-rbac", "owner", "member", "PUT member", "pending", "403 modify_member", { status: "bogus" }),
  off("secure-rbac", "stranger", "member", "PUT member", "pending", "404 image", { status: "bogus" }),
  off("legacy", "accepted", "none", "PUT member", "accepted", "400", { status: "bogus" }),
  off("legacy", "owner", "member", "PUT member", "pending", "403 update", { status: "bogus" }),
  // Denied by the operator: each member route's second rule, and get_image before it.
  off("secure-rbac", "accepted", "member", "GET member", "accepted", "404 get_member", {
    denied: ["get_member"],
  }),
  off("secure-rbac", "accepted", "member", "PUT member", "accepted", "403 get_member", {
    denied: ["get_member"],
  }),
  off("secure-rbac", "owner", "member", "DELETE member", "pending", "403 get_member", {
    denied: ["get_member"],
  }),
  off("secure-rbac", "owner", "member", "GET members", "pending", "403 get_members", {
    denied: ["get_members"],
  }),
  off("secure-rbac", "owner", "member", "GET members", "pending", "200", { denied: ["get_member"] }),
  off("secure-rbac", "owner", "admin", "POST members", "pending", "404 hidden", { denied: ["get_image"] }),
  off("secure-rbac", "accepted", "admin", "PUT member", "accepted", "403 modify_member", {
    denied: ["modify_member"],
  }),
  off("legacy", "owner", "member", "DELETE member", "pending", "403 delete_member", {
    denied: ["delete_member"],
  }),
  off("legacy", "accepted", "none", "PUT member", "accepted", "403 modify_member", {
    denied: ["modify_member"],
  }),
  off("legacy", "owner", "none", "POST members", "pending", "403 add_member", { denied: ["add_member"] }),
  off("legacy", "pending", "member", "GET member", "pending", "404 hidden", { denied: ["get_image"] }),
  // …but the database's visibility and "takes members" come first, whatever the policy.
  off("legacy", "stranger", "member", "GET members", "pending", "404 image", { denied: ["get_members"] }),
];

const r = crypto.randomUUID().slice(0, 8);
const PROJECTS: Record<Relation, string> = {
  owner: `owner-${r}`,
  pending: `pending-${r}`,
  accepted: `accepted-${r}`,
  rejected: `rejected-${r}`,
  stranger: `stranger-${r}`,
};
const NEW_MEMBER = `new-${r}`;
const OWNER: Actor = { project: PROJECTS.owner, roles: ROLE_SETS.member };
const ADMIN: Actor = { project: `admin-${r}`, roles: ROLE_SETS.admin };

/** A request under `policy` (default: secure-rbac), its answer read. */
async function ask(
  who: Actor,
  method: string,
  path: string,
  opts: { body?: unknown; type?: string; policy?: Policy } = {},
) {
  const res = await call(method, path, {
    who,
    body: opts.body,
    type: opts.type,
    vars: policyVars(opts.policy ?? { rules: "secure-rbac" }),
  });
  const text = await res.text();
  return { status: res.status, text, type: res.headers.get("Content-Type") };
}

async function ok(p: ReturnType<typeof ask>, status: number) {
  const res = await p;
  expect(res.status, res.text).toBe(status);
  return res.text === "" ? null : JSON.parse(res.text);
}

/**
 * A fresh image of `visibility` with a pending, an accepted and a rejected member (and, asked
 * for, the owner's own membership), made under secure-rbac by callers holding the roles it
 * needs; and the same image in the model's terms, timestamps learnt from the API.
 */
async function fixture(visibility: Visibility, ownerIsMember = false): Promise<World> {
  const id = crypto.randomUUID();
  await ok(ask(OWNER, "POST", "/v2/images", { body: { id, name: "table" } }), 201);
  const members: Relation[] = [
    "pending",
    "accepted",
    "rejected",
    ...(ownerIsMember ? ["owner" as const] : []),
  ];
  for (const m of members)
    await ok(ask(OWNER, "POST", `/v2/images/${id}/members`, { body: { member_id: PROJECTS[m] } }), 200);
  for (const m of ["accepted", "rejected"] as const) {
    const who: Actor = { project: PROJECTS[m], roles: ROLE_SETS.member };
    await ok(ask(who, "PUT", `/v2/images/${id}/members/${PROJECTS[m]}`, { body: { status: m } }), 200);
  }
  const list = (await ok(ask(ADMIN, "GET", `/v2/images/${id}/members`), 200)) as {
    members: { member_id: string; status: Membership["status"]; created_at: string; updated_at: string }[];
  };
  if (visibility !== "shared") {
    await ok(
      ask(visibility === "public" ? ADMIN : OWNER, "PATCH", `/v2/images/${id}`, {
        body: [{ op: "replace", path: "/visibility", value: visibility }],
        type: JSON_PATCH,
      }),
      200,
    );
  }
  const image = (await ok(ask(ADMIN, "GET", `/v2/images/${id}`), 200)) as {
    created_at: string;
    updated_at: string;
  };
  return {
    quota: 128,
    images: [
      {
        id,
        owner: OWNER.project,
        visibility,
        name: "table",
        tags: [],
        createdAt: image.created_at,
        updatedAt: image.updated_at,
        members: list.members.map((m) => ({
          memberId: m.member_id,
          status: m.status,
          createdAt: m.created_at,
          updatedAt: m.updated_at,
        })),
      },
    ],
  };
}

function targetOf(caller: Relation, route: Route): string {
  if (caller === "pending" || caller === "accepted" || caller === "rejected") return PROJECTS[caller];
  return route === "GET member" ? PROJECTS.accepted : PROJECTS.pending;
}

function opFor(actor: Actor, policy: Policy, route: Route, id: string, target: string, status: string): Op {
  const sent = { actor, policy };
  switch (route) {
    case "POST members":
      return { ...sent, kind: "addMember", image: id, body: { member_id: NEW_MEMBER } };
    case "GET members":
      return { ...sent, kind: "listMembers", image: id };
    case "GET member":
      return { ...sent, kind: "showMember", image: id, member: target };
    case "PUT member":
      return { ...sent, kind: "updateMember", image: id, member: target, status };
    case "DELETE member":
      return { ...sent, kind: "deleteMember", image: id, member: target };
    case "GET image":
      return { ...sent, kind: "showImage", image: id };
  }
}

function request(op: Op) {
  const m = (image: string) => `/v2/images/${image}/members`;
  const o = { policy: op.policy };
  switch (op.kind) {
    case "addMember":
      return ask(op.actor, "POST", m(op.image), { ...o, body: op.body });
    case "listMembers":
      return ask(op.actor, "GET", m(op.image), o);
    case "showMember":
      return ask(op.actor, "GET", `${m(op.image)}/${op.member}`, o);
    case "updateMember":
      return ask(op.actor, "PUT", `${m(op.image)}/${op.member}`, { ...o, body: { status: op.status } });
    case "deleteMember":
      return ask(op.actor, "DELETE", `${m(op.image)}/${op.member}`, o);
    case "showImage":
      return ask(op.actor, "GET", `/v2/images/${op.image}`, o);
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
    case "404 hidden":
      return msg.resourceNotFound;
    case "403 create":
      return msg.notAllowed("create", id);
    case "403 update":
      return msg.notAllowed("update", id);
    case "403 delete":
      return msg.notAllowed("delete", id);
    case "403 list":
      return msg.listNotAllowed(id);
    case "403 add_member":
    case "403 modify_member":
    case "403 delete_member":
    case "403 get_member":
    case "403 get_members":
    case "404 get_member":
      return msg.notAuthorized(code.slice(4) as "get_member");
    case "400":
      return msg.invalidStatus;
  }
}

/** The image's member rows as stored: what a refused write must leave as it was. */
const rows = async (id: string) =>
  JSON.stringify(
    (
      await env.DB.prepare(
        "SELECT member_id, status, created_at, updated_at FROM image_members WHERE image_id = ?1 ORDER BY member_id",
      )
        .bind(id)
        .all()
    ).results,
  );

/**
 * Sends one cell and checks it: status and message (or body) as the table says, as the model
 * says, and the app's answer equal to both. Returns whether it wrote (a fresh image is then due).
 */
async function check(
  world: World,
  caller: Relation,
  roles: RoleSetName,
  cell: {
    route: Route;
    policy: Policy;
    target: string;
    code: Code;
    status?: string;
  },
): Promise<boolean> {
  const image = world.images[0] as World["images"][number];
  const actor: Actor = { project: PROJECTS[caller], roles: ROLE_SETS[roles] };
  const op = opFor(actor, cell.policy, cell.route, image.id, cell.target, cell.status ?? "accepted");
  const where = `${cell.policy.rules}${cell.policy.denied ? ` deny=${cell.policy.denied}` : ""} ${caller} [${actor.roles}] ${cell.route} (${cell.target}) on ${image.visibility}`;
  const before = await rows(image.id);
  const res = await request(op);
  const status = Number(cell.code.slice(0, 3));
  const want = message(cell.code, image.id, cell.target);

  // The model agrees with the hand-written cell…
  const modelled = step(world, op).expected;
  expect(
    { status: modelled.status, message: "message" in modelled ? modelled.message : null },
    `model, ${where}`,
  ).toEqual({ status, message: want });

  // …and the app with both: status, and the whole body.
  expect(res.status, `${where}: ${res.text}`).toBe(status);
  expect(res.text, where).not.toMatch(LEAK);
  if (status === 204) expect(res.text, where).toBe("");
  else {
    expect(res.type, where).toBe("application/json");
    const body = JSON.parse(res.text);
    const reason = REASONS[status];
    const expected =
      want === null
        ? "body" in modelled && modelled.body
        : { message: want, code: `${status} ${reason}`, title: reason };
    expect(differences(body, expected), `${where}: ${res.text}`).toEqual([]);
    if (cell.route === "GET members" && status === 200) {
      // Written out once more by hand: an admin or the owner sees every row, a member its own;
      // none when get_member (asked of each row, whose target is the image) is denied.
      const all = roles === "admin" || caller === "owner";
      const shown = !cell.policy.denied?.includes("get_member");
      const seen = (body.members as { member_id: string }[]).map((m) => m.member_id).sort();
      const mine = image.members
        .map((m) => m.memberId)
        .filter((m) => shown && (all || m === PROJECTS[caller]));
      expect(seen, where).toEqual(mine.sort());
    }
  }
  const wrote =
    status < 300 && cell.route !== "GET members" && cell.route !== "GET member" && cell.route !== "GET image";
  if (!wrote) expect(await rows(image.id), `${where}: a refused request changed the members`).toBe(before);
  return wrote;
}

describe("authorization table: rule set × route × visibility × caller × roles", () => {
  for (const rules of ["secure-rbac", "legacy"] as const) {
    for (const route of ROUTES) {
      for (const visibility of ["shared", "private", "public", "community"] as const) {
        it(`${rules}: ${route} on a ${visibility} image`, async () => {
          const grid = blockOf(rules, route, visibility);
          let world = await fixture(visibility);
          for (const caller of RELATIONS) {
            for (const [n, roles] of ROLES.entries()) {
              const code = grid[caller][n] as Code;
              const target = targetOf(caller, route);
              if (await check(world, caller, roles, { route, policy: { rules }, target, code }))
                world = await fixture(visibility);
            }
          }
        });
      }
    }
  }
});

describe("authorization table: others' rows, missing rows, the owner's row, bad statuses, denied rules", () => {
  for (const o of OFF_GRID) {
    const policy: Policy = o.denied ? { rules: o.rules, denied: o.denied } : { rules: o.rules };
    it(`${o.rules}${o.denied ? ` with ${o.denied} denied` : ""}: ${o.caller} [${o.roles}] ${o.route} of ${o.target}${o.status ? ` to ${o.status}` : ""}: ${o.code}`, async () => {
      const world = await fixture("shared", o.target === "owner");
      const target = o.target === "nobody" ? `nobody-${r}` : PROJECTS[o.target];
      await check(world, o.caller, o.roles, {
        route: o.route,
        policy,
        target,
        code: o.code,
        status: o.status,
      });
    });
  }
});
