/**
 * A pure reference model of docs/reference.md §4 (which images have members, who sees which image), §5 (the
 * member routes, their checks in order, status and body), §8 / §8.3 (image show, create,
 * visibility PATCH, delete and the image list) and §11 (roles, under both rule sets: Glance's
 * current `secure-rbac` defaults and Glance ≤ Zed's `legacy` ones, plus rules an operator
 * overrides to deny). Written from the reference and from Glance itself (glance/api/v2/images.py,
 * image_members.py, policy.py, glance/policies/base.py), not from src/: it imports nothing from
 * the app, and states each rule as plain logic rather than as a check string, so the app — its
 * check-string engine, its SQL guards, its order of steps — is checked against an independent
 * reading.
 *
 * Timestamps are the one thing the model cannot predict: expected bodies hold `Ts` matchers
 * (format, and ordering constraints), and `next(observed)` learns the values the server chose,
 * so later answers (order of lists, unchanged `created_at`) are still predicted exactly.
 *
 * Time and bulk (docs/reference.md §12): memberships may carry `expiresAt`, and the world has a clock. A
 * membership whose expiry is not after the clock is gone for every purpose: before each request
 * the model drops it (`prune`), so every rule below — visibility, lists, show, PUT / PATCH /
 * DELETE, the image list, the quota, re-adds — reads only live memberships, as the database does
 * through `live_members`. On top: PATCH …/members/{member_id} (set or clear an expiry), POST
 * /v2/shares (many images with many projects, all or nothing) and GET /v2/shares (memberships
 * across images, paged by an opaque marker the model learns from `next`).
 */

export const VISIBILITIES = ["public", "community", "shared", "private"] as const;
export type Visibility = (typeof VISIBILITIES)[number];
export const STATUSES = ["pending", "accepted", "rejected"] as const;
export type MemberStatus = (typeof STATUSES)[number];

// ---------------------------------------------------------------- callers and rule sets (docs/reference.md §1, §11)

/**
 * The role sets a Keystone token carries: a `member` is also a `reader`, an `admin` also a
 * `member` and a `reader` (Keystone's implied roles). Roles here are already lower-cased.
 */
export const ROLE_SETS = {
  none: [],
  reader: ["reader"],
  member: ["member", "reader"],
  admin: ["admin", "member", "reader"],
} as const satisfies Record<string, readonly string[]>;
export type RoleSetName = keyof typeof ROLE_SETS;
export const ROLE_SET_NAMES = Object.keys(ROLE_SETS) as RoleSetName[];

export interface Actor {
  project: string;
  /** Lower-case role names, as the token (or X-Roles) gives them. */
  roles: readonly string[];
}

export const RULE_SETS = ["secure-rbac", "legacy"] as const;
export type RuleSet = (typeof RULE_SETS)[number];

/** The rules the member and image routes ask (Glance's names). */
export const RULES = [
  "get_image",
  "get_images",
  "add_image",
  "modify_image",
  "delete_image",
  "publicize_image",
  "communitize_image",
  "get_member",
  "get_members",
  "add_member",
  "modify_member",
  "delete_member",
  // docs/reference.md §12: glance-edge's own rules.
  "set_member_expiry",
  "get_shares",
  "get_member_events",
] as const;
export type Rule = (typeof RULES)[number];

/**
 * The policy of one request: a rule set (POLICY_DEFAULTS) and rules an operator overrode to
 * `"!"` (POLICY_OVERRIDES), which deny whatever the rule set says.
 */
export interface Policy {
  rules: RuleSet;
  denied?: readonly Rule[];
}

/** The POLICY_DEFAULTS / POLICY_OVERRIDES a request of this policy is sent with. */
export function policyVars(p: Policy): { POLICY_DEFAULTS: string; POLICY_OVERRIDES: string } {
  const overrides = Object.fromEntries((p.denied ?? []).map((r) => [r, "!"]));
  return {
    POLICY_DEFAULTS: p.rules,
    POLICY_OVERRIDES: p.denied && p.denied.length > 0 ? JSON.stringify(overrides) : "",
  };
}

/** What the rules read of a caller and an image (Glance's credentials and ImageTarget). */
interface Facts {
  /** context_is_admin: the `admin` role, in both rule sets. */
  admin: boolean;
  reader: boolean;
  member: boolean;
  /** The caller's project owns the image (target project_id / owner). */
  owner: boolean;
  /** Target member_id is the caller's project: it holds a membership and does not own the image. */
  memberId: boolean;
  visibility: Visibility;
}

export const isAdmin = (a: Actor) => a.roles.includes("admin");

function facts(actor: Actor, image: ModelImage): Facts {
  const owner = image.owner === actor.project;
  return {
    admin: isAdmin(actor),
    reader: actor.roles.includes("reader"),
    member: actor.roles.includes("member"),
    owner,
    memberId: !owner && membershipOf(image, actor.project) !== undefined,
    visibility: image.visibility,
  };
}

/**
 * Whether `rule` holds. secure-rbac: glance/policies/base.py's defaults, read as logic.
 * legacy: every rule is its deprecated default `rule:default` (""), which passes, except
 * publicize_image (admin only); Glance's code then checks ownership itself (the routes below).
 */
export function allowed(policy: Policy, rule: Rule, f: Facts): boolean {
  if (policy.denied?.includes(rule)) return false;
  if (policy.rules === "legacy") return rule === "publicize_image" ? f.admin : true;
  const projectMember = f.member && f.owner;
  switch (rule) {
    case "get_image":
      return (
        f.admin ||
        (f.reader && (f.owner || f.memberId || ["community", "public", "shared"].includes(f.visibility)))
      );
    case "get_images":
      // The target is the caller's own project: any reader may list.
      return f.admin || f.reader;
    case "get_member":
    case "get_members":
      return f.admin || (f.reader && (f.owner || f.memberId));
    case "add_image":
      // The target's owner is the caller's own project (images are created for it).
      return f.admin || f.member;
    case "get_shares":
    case "get_member_events":
      // docs/reference.md §12.2, §12.4: `rule:context_is_admin or role:reader`, whatever the image.
      return f.admin || f.reader;
    case "publicize_image":
      return f.admin;
    case "communitize_image":
    case "modify_image":
    case "delete_image":
    case "add_member":
    case "delete_member":
    // docs/reference.md §12.1: set_member_expiry defaults to add_member's rule.
    case "set_member_expiry":
      return f.admin || projectMember;
    case "modify_member":
      return f.admin || (f.member && f.memberId);
  }
}

// ---------------------------------------------------------------- the world

export interface Membership {
  memberId: string;
  status: MemberStatus;
  createdAt: string;
  updatedAt: string;
  /** docs/reference.md §12.1: null (or absent) never expires; from this instant on the membership is gone. */
  expiresAt?: string | null;
}

export interface ModelImage {
  id: string;
  owner: string;
  visibility: Visibility;
  name: string;
  tags: string[];
  createdAt: string;
  updatedAt: string;
  /** In insertion order; the API orders by created_at then member_id. */
  members: Membership[];
}

/** A share listing's sort key (docs/reference.md §12.2): created_at, image_id, member_id. */
export type ShareKey = readonly [string, string, string];

export interface World {
  /** Live images only: a deleted image (and its members) is gone. */
  images: ModelImage[];
  /** IMAGE_MEMBER_QUOTA: negative = unlimited. */
  quota: number;
  /**
   * Now, as the database's clock reads it (YYYY-MM-DDThh:mm:ssZ); memberships expire against it.
   * Absent: the wall clock at the time of the step.
   */
  clock?: string;
  /** Every `marker` a GET /v2/shares answered in `next`, and the row it continues after. */
  markers?: Record<string, ShareKey>;
}

/** GET /v2/shares query (docs/reference.md §12.2), in the order the runner sends it. */
export interface SharesQuery {
  member_id?: string;
  owner?: string;
  image_id?: string;
  status?: MemberStatus | "all";
  limit?: number;
  marker?: string;
}

/** POST /v2/shares body (docs/reference.md §12.3), as sent. */
export interface BulkBody {
  images: string[];
  members: string[];
  expires_at?: unknown;
}

export interface ListQuery {
  tag: string;
  visibility?: Visibility | "all";
  member_status?: MemberStatus | "all";
  limit?: number;
  marker?: string;
}

/** Who sends a request, and under which policy. */
interface Sent {
  actor: Actor;
  policy: Policy;
}

/** One request, concrete: ids and paths resolved. `image` is the raw path segment. */
export type Op = Sent &
  (
    | { kind: "createImage"; id: string; name: string; tags: string[]; visibility?: Visibility }
    | { kind: "showImage"; image: string }
    | { kind: "patchVisibility"; image: string; visibility: Visibility }
    | { kind: "deleteImage"; image: string }
    | { kind: "listImages"; query: ListQuery }
    | {
        kind: "addMember";
        image: string;
        body: { member_id?: string; member?: string; expires_at?: unknown };
      }
    | { kind: "listMembers"; image: string }
    | { kind: "showMember"; image: string; member: string }
    | { kind: "updateMember"; image: string; member: string; status: unknown }
    | { kind: "deleteMember"; image: string; member: string }
    | { kind: "setExpiry"; image: string; member: string; body: unknown }
    | { kind: "bulkShare"; body: BulkBody }
    | { kind: "listShares"; query: SharesQuery }
  );

/** A timestamp the server chooses: RFC 3339 UTC seconds, optionally not before another one. */
export class Ts {
  constructor(
    readonly notBefore?: string,
    /** The same value as this sibling key of the same object. */
    readonly sameAs?: string,
  ) {}
}

/** A marker link: `prefix` then an opaque marker (base64url characters), remembered by the model. */
export class NextLink {
  constructor(readonly prefix: string) {}
}

/** An error's message: exact where the reference words it, a pattern where it only says what it is about. */
export type Expected = { status: number; message: string | RegExp } | { status: number; body: unknown };

export interface Step {
  expected: Expected;
  /** The world after the request, given the answer's body (timestamps are learnt from it). */
  next(observed: unknown): World;
}

// ---------------------------------------------------------------- docs/reference.md §4: visibility

export const hasMembers = (v: Visibility) => v === "shared" || v === "private";

export function membershipOf(image: ModelImage, project: string): Membership | undefined {
  return image.members.find((m) => m.memberId === project);
}

/** A time as docs/reference.md §2 writes it: UTC, second precision. */
export const stampOf = (ms: number) => `${new Date(ms).toISOString().slice(0, 19)}Z`;

/** The world's clock: its own, or the wall clock now. */
export const clockOf = (world: World): string => world.clock ?? stampOf(Date.now());

/** Whether a membership is live at `clock` (docs/reference.md §12.1: gone from `expires_at` on). */
export const live = (m: Membership, clock: string) => m.expiresAt == null || m.expiresAt > clock;

/**
 * The world as the database sees it at its clock: expired memberships are gone for every
 * purpose (the rows wait for the purge, invisible; a re-add replaces them with a fresh one).
 */
export function prune(world: World): World {
  const clock = clockOf(world);
  const pruned = { ...world, clock };
  if (world.images.every((i) => i.members.every((m) => live(m, clock)))) return pruned;
  return {
    ...pruned,
    images: world.images.map((i) => ({ ...i, members: i.members.filter((m) => live(m, clock)) })),
  };
}

/**
 * The test's way of moving a membership past its expiry (the database reads its own wall clock,
 * so the runner sets the row's `expires_at` into the past, and the model does the same).
 */
export const EXPIRED_AT = "2000-01-01T00:00:00Z";
export function expire(world: World, imageId: string, memberId: string): World {
  return withImage(world, imageId, (i) => ({
    ...i,
    members: i.members.map((m) => (m.memberId === memberId ? { ...m, expiresAt: EXPIRED_AT } : m)),
  }));
}

/**
 * docs/reference.md §4 (Glance's database layer, before any policy): admin, owner, public/community, or
 * shared/private with a membership in any status.
 */
export function visible(actor: Actor, image: ModelImage): boolean {
  return (
    isAdmin(actor) ||
    image.owner === actor.project ||
    !hasMembers(image.visibility) ||
    membershipOf(image, actor.project) !== undefined
  );
}

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** A path's image id is canonicalised (lower case); anything not a UUID is simply not found. */
export function find(world: World, raw: string): ModelImage | undefined {
  if (!UUID.test(raw)) return undefined;
  const id = raw.toLowerCase();
  return world.images.find((i) => i.id === id);
}

// ---------------------------------------------------------------- messages (docs/reference.md §5, §8, §11)

export const msg = {
  imageNotFound: (raw: string) => `Image ${raw} not found.`,
  memberNotFound: (raw: string, member: string) =>
    `${member} not found in the member list of the image ${raw}.`,
  notAllowed: (action: "create" | "update" | "delete", raw: string) =>
    `Not allowed to ${action} members for image ${raw}.`,
  listNotAllowed: (raw: string) =>
    `Not allowed to list members for image ${raw}: Only shared images have members.`,
  noMembers: "Only shared images have members.",
  quota: (raw: string, count: number, quota: number) =>
    `Image member limit exceeded for image ${raw}: The limit has been exceeded on the number of allowed image members for this image. Attempted: ${count + 1}, Maximum: ${quota}`,
  duplicate: (raw: string, member: string) => `Member ${member} is duplicated for image ${raw}`,
  invalidStatus: 'Incorrect request: Status must be "pending", "accepted" or "rejected".',
  noImage: (raw: string) => `No image found with ID ${raw}`,
  /** images.py delete words its database NotFound its own way. */
  failedToDelete: (raw: string) => `Failed to find image ${raw} to delete`,
  notOwner: "You do not own this image",
  /** oslo.policy's PolicyNotAuthorized, as Glance words it (exception.Forbidden). */
  notAuthorized: (rule: Rule) => `You are not authorized to complete ${rule} action.`,
  /** webob's HTTPNotFound() without explanation: get_image failed on an image that exists. */
  resourceNotFound: "The resource could not be found.",
  badMarker: (marker: string) => `Invalid marker. Image ${marker} could not be found.`,
  /** docs/reference.md §12.1 words the start only: `Invalid expires_at: <why>.` */
  invalidExpiry: /^Invalid expires_at: \S.*\.$/,
  /** A 400 whose words reference leaves open (PATCH with other keys, no key, not an object). */
  anyBadRequest: /\S/,
  /** docs/reference.md §12.2: an invalid marker is a 400; the words are the service's. */
  badShareMarker: /marker/i,
  /** docs/reference.md §12.3's 413 "with its numbers": the image's members plus the new ones it would take. */
  bulkQuota: (raw: string, attempted: number, quota: number) =>
    `Image member limit exceeded for image ${raw}: The limit has been exceeded on the number of allowed image members for this image. Attempted: ${attempted}, Maximum: ${quota}`,
};

// ---------------------------------------------------------------- views (docs/reference.md §5, §8)

export function memberJson(
  image: ModelImage,
  m: Pick<Membership, "memberId" | "status" | "createdAt" | "updatedAt" | "expiresAt">,
) {
  return {
    member_id: m.memberId,
    image_id: image.id,
    status: m.status,
    created_at: m.createdAt as unknown,
    updated_at: m.updatedAt as unknown,
    // docs/reference.md §12.1: after updated_at, only when set.
    ...(m.expiresAt == null ? {} : { expires_at: m.expiresAt }),
    schema: "/v2/schemas/member",
  };
}

/** A share object (docs/reference.md §12.2): the image's name, owner and visibility, then the membership. */
export function shareJson(image: ModelImage, m: Membership) {
  return {
    image_id: image.id,
    image_name: image.name,
    image_owner: image.owner,
    image_visibility: image.visibility,
    member_id: m.memberId,
    status: m.status,
    created_at: m.createdAt as unknown,
    updated_at: m.updatedAt as unknown,
    ...(m.expiresAt == null ? {} : { expires_at: m.expiresAt }),
  };
}

/** GET /v2/shares's query string, in a fixed order; `first` drops the marker. */
export function sharesQueryString(q: SharesQuery, withMarker = true): string {
  const p = new URLSearchParams();
  if (q.member_id !== undefined) p.set("member_id", q.member_id);
  if (q.owner !== undefined) p.set("owner", q.owner);
  if (q.image_id !== undefined) p.set("image_id", q.image_id);
  if (q.status !== undefined) p.set("status", q.status);
  if (q.limit !== undefined) p.set("limit", String(q.limit));
  if (withMarker && q.marker !== undefined) p.set("marker", q.marker);
  return p.toString();
}

const byCreatedThenMember = (a: Membership, b: Membership) =>
  a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.memberId < b.memberId ? -1 : 1;

export function imageJson(i: ModelImage, stamps?: { created_at: unknown; updated_at: unknown }) {
  return {
    name: i.name,
    disk_format: null,
    container_format: null,
    visibility: i.visibility,
    size: null,
    virtual_size: null,
    status: "queued",
    checksum: null,
    protected: false,
    min_ram: 0,
    min_disk: 0,
    owner: i.owner,
    os_hidden: false,
    os_hash_algo: null,
    os_hash_value: null,
    id: i.id,
    created_at: stamps ? stamps.created_at : i.createdAt,
    updated_at: stamps ? stamps.updated_at : i.updatedAt,
    tags: i.tags,
    self: `/v2/images/${i.id}`,
    file: `/v2/images/${i.id}/file`,
    schema: "/v2/schemas/image",
  };
}

/** The query string exactly as a client (and the runner) sends it; `first` drops the marker. */
export function queryString(q: ListQuery, withMarker = true): string {
  const p = new URLSearchParams();
  p.set("tag", q.tag);
  if (q.visibility !== undefined) p.set("visibility", q.visibility);
  if (q.member_status !== undefined) p.set("member_status", q.member_status);
  if (q.limit !== undefined) p.set("limit", String(q.limit));
  if (withMarker && q.marker !== undefined) p.set("marker", q.marker);
  return p.toString();
}

// ---------------------------------------------------------------- helpers

const same = (world: World) => () => world;
const err = (world: World, status: number, message: string | RegExp): Step => ({
  expected: { status, message },
  next: same(world),
});

function withImage(world: World, id: string, change: (i: ModelImage) => ModelImage | null): World {
  const images: ModelImage[] = [];
  for (const i of world.images) {
    if (i.id !== id) images.push(i);
    else {
      const changed = change(i);
      if (changed) images.push(changed);
    }
  }
  return { ...world, images };
}

function stamps(observed: unknown): { created_at: string; updated_at: string } {
  const o = observed as { created_at: string; updated_at: string };
  return { created_at: o.created_at, updated_at: o.updated_at };
}

// ---------------------------------------------------------------- the member routes (docs/reference.md §5, §11)

/**
 * MemberAPIPolicy (glance/api/v2/policy.py): get_image first — failing, a bare 404 — then the
 * member rule, whose refusal is `refused` (403 in Glance's words unless the route says otherwise).
 */
function memberRule(
  op: Sent,
  image: ModelImage,
  rule: Rule,
  refused: (rule: Rule) => { status: number; message: string } = (r) => ({
    status: 403,
    message: msg.notAuthorized(r),
  }),
): { status: number; message: string } | null {
  const f = facts(op.actor, image);
  if (!allowed(op.policy, "get_image", f)) return { status: 404, message: msg.resourceNotFound };
  if (!allowed(op.policy, rule, f)) return refused(rule);
  return null;
}

const legacy = (op: Sent) => op.policy.rules === "legacy";
const ownerOf = (op: Sent, image: ModelImage) => image.owner === op.actor.project;

/**
 * Which rows the database gives the caller (Glance's image_member_find): an admin or the owner
 * every row, anyone else only its own.
 */
const readsRow = (op: Sent, image: ModelImage, memberId: string) =>
  isAdmin(op.actor) || ownerOf(op, image) || memberId === op.actor.project;

/**
 * docs/reference.md §12.1: an expiry is a `YYYY-MM-DDThh:mm:ssZ` time that exists, strictly after the clock
 * and at most 10 years ahead of it.
 */
export function validExpiry(v: unknown, clock: string): v is string {
  if (!isTimestamp(v) || v <= clock) return false;
  const limit = new Date(clock);
  limit.setUTCFullYear(limit.getUTCFullYear() + 10);
  return Date.parse(v) <= limit.getTime();
}

/**
 * docs/reference.md §5.1 steps 3–6 (and §11) for one image: what refuses an add to it, in Glance's order, or
 * null. Shared by POST members and each image of POST /v2/shares (§12.3: "§5.1/§11 texts").
 */
function addRefusal(
  op: Sent,
  image: ModelImage | undefined,
  raw: string,
): { status: number; message: string } | null {
  if (!image || !visible(op.actor, image)) return { status: 404, message: msg.imageNotFound(raw) };
  if (!hasMembers(image.visibility)) return { status: 403, message: msg.notAllowed("create", raw) };
  // _check_visibility_and_ownership('create'), without enforce_new_defaults only.
  if (legacy(op) && !isAdmin(op.actor) && !ownerOf(op, image))
    return { status: 403, message: msg.notAllowed("create", raw) };
  return memberRule(op, image, "add_member");
}

/**
 * §5.1 POST members. Body errors of step 1–2 are the fuzz suite's job, bar one: `expires_at`
 * (§12.1), checked with the body, before the image is looked at.
 */
function addMember(world: World, op: Extract<Op, { kind: "addMember" }>): Step {
  const memberId = op.body.member_id !== undefined ? op.body.member_id : (op.body.member as string);
  const expiry = op.body.expires_at ?? null;
  if (expiry !== null && !validExpiry(expiry, clockOf(world))) return err(world, 400, msg.invalidExpiry);
  const expiresAt = expiry as string | null;
  const image = find(world, op.image);
  const refused = addRefusal(op, image, op.image);
  if (refused) return err(world, refused.status, refused.message);
  if (!image) throw new Error("unreachable: addRefusal passed without an image");
  if (world.quota >= 0 && image.members.length >= world.quota)
    return err(world, 413, msg.quota(op.image, image.members.length, world.quota));
  if (membershipOf(image, memberId)) return err(world, 409, msg.duplicate(op.image, memberId));
  return {
    expected: {
      status: 200,
      body: memberJson(image, {
        memberId,
        status: "pending",
        createdAt: new Ts() as unknown as string,
        updatedAt: new Ts(undefined, "created_at") as unknown as string,
        expiresAt,
      }),
    },
    next: (observed) => {
      const { created_at, updated_at } = stamps(observed);
      const row: Membership = {
        memberId,
        status: "pending",
        createdAt: created_at,
        updatedAt: updated_at,
        expiresAt,
      };
      return withImage(world, image.id, (i) => ({ ...i, members: [...i.members, row] }));
    },
  };
}

/** §5.2 GET members: owner and admin see every row, a member only its own. */
function listMembers(world: World, op: Extract<Op, { kind: "listMembers" }>): Step {
  const image = find(world, op.image);
  if (!image || !visible(op.actor, image)) return err(world, 404, msg.imageNotFound(op.image));
  if (!hasMembers(image.visibility)) return err(world, 403, msg.listNotAllowed(op.image));
  const refused = memberRule(op, image, "get_members");
  if (refused) return err(world, refused.status, refused.message);
  // Each row is then kept only if get_member holds; its target is the image: all or none.
  const shown = memberRule(op, image, "get_member") === null;
  const rows = image.members
    .filter((m) => shown && readsRow(op, image, m.memberId))
    .sort(byCreatedThenMember);
  return {
    expected: {
      status: 200,
      body: { members: rows.map((m) => memberJson(image, m)), schema: "/v2/schemas/members" },
    },
    next: same(world),
  };
}

/** §5.3 GET a member: show() turns every refusal into a 404 with the same words. */
function showMember(world: World, op: Extract<Op, { kind: "showMember" }>): Step {
  const image = find(world, op.image);
  if (!image || !visible(op.actor, image)) return err(world, 404, msg.imageNotFound(op.image));
  if (!hasMembers(image.visibility)) return err(world, 404, msg.noMembers);
  const refused = memberRule(op, image, "get_member", (r) => ({
    status: 404,
    message: msg.notAuthorized(r),
  }));
  if (refused) return err(world, refused.status, refused.message);
  const row = membershipOf(image, op.member);
  if (!row || !readsRow(op, image, op.member))
    return err(world, 404, msg.memberNotFound(op.image, op.member));
  return { expected: { status: 200, body: memberJson(image, row) }, next: same(world) };
}

/** §5.4 PUT a member's status: get_member, the row, modify_member, and only then the status. */
function updateMember(world: World, op: Extract<Op, { kind: "updateMember" }>): Step {
  const image = find(world, op.image);
  if (!image || !visible(op.actor, image)) return err(world, 404, msg.imageNotFound(op.image));
  if (!hasMembers(image.visibility)) return err(world, 403, msg.notAllowed("update", op.image));
  // _check_visibility_and_ownership('update'): the (non-admin) owner never sets a status.
  if (legacy(op) && !isAdmin(op.actor) && ownerOf(op, image))
    return err(world, 403, msg.notAllowed("update", op.image));
  const lookup = memberRule(op, image, "get_member");
  if (lookup) return err(world, lookup.status, lookup.message);
  const row = membershipOf(image, op.member);
  if (!row || !readsRow(op, image, op.member))
    return err(world, 404, msg.memberNotFound(op.image, op.member));
  const refused = memberRule(op, image, "modify_member");
  if (refused) return err(world, refused.status, refused.message);
  const status = STATUSES.find((s) => s === op.status);
  if (!status) return err(world, 400, msg.invalidStatus);
  return {
    expected: {
      status: 200,
      body: { ...memberJson(image, { ...row, status }), updated_at: new Ts(row.updatedAt) },
    },
    next: (observed) => {
      const { updated_at } = stamps(observed);
      return withImage(world, image.id, (i) => ({
        ...i,
        members: i.members.map((m) =>
          m.memberId === op.member ? { ...m, status, updatedAt: updated_at } : m,
        ),
      }));
    },
  };
}

/** §5.5 DELETE a member: get_member, the row, then delete_member; the membership is gone. */
function deleteMember(world: World, op: Extract<Op, { kind: "deleteMember" }>): Step {
  const image = find(world, op.image);
  if (!image || !visible(op.actor, image)) return err(world, 404, msg.imageNotFound(op.image));
  if (!hasMembers(image.visibility)) return err(world, 403, msg.notAllowed("delete", op.image));
  if (legacy(op) && !isAdmin(op.actor) && !ownerOf(op, image))
    return err(world, 403, msg.notAllowed("delete", op.image));
  const lookup = memberRule(op, image, "get_member");
  if (lookup) return err(world, lookup.status, lookup.message);
  if (!membershipOf(image, op.member) || !readsRow(op, image, op.member))
    return err(world, 404, msg.memberNotFound(op.image, op.member));
  const refused = memberRule(op, image, "delete_member");
  if (refused) return err(world, refused.status, refused.message);
  return {
    expected: { status: 204, body: null },
    next: () =>
      withImage(world, image.id, (i) => ({
        ...i,
        members: i.members.filter((m) => m.memberId !== op.member),
      })),
  };
}

/**
 * §12.1 PATCH a member: `{"expires_at": <time> | null}` sets or clears the expiry. Refused as
 * PUT and DELETE are ("§5.5's order": 404 image, 403 visibility and rule, 404 member), with its
 * own rule `set_member_expiry` (add_member's default); the body is judged last.
 */
function setExpiry(world: World, op: Extract<Op, { kind: "setExpiry" }>): Step {
  const image = find(world, op.image);
  if (!image || !visible(op.actor, image)) return err(world, 404, msg.imageNotFound(op.image));
  if (!hasMembers(image.visibility)) return err(world, 403, msg.notAllowed("update", op.image));
  if (legacy(op) && !isAdmin(op.actor) && !ownerOf(op, image))
    return err(world, 403, msg.notAllowed("update", op.image));
  const refused = memberRule(op, image, "set_member_expiry");
  if (refused) return err(world, refused.status, refused.message);
  const row = membershipOf(image, op.member);
  if (!row || !readsRow(op, image, op.member))
    return err(world, 404, msg.memberNotFound(op.image, op.member));
  const body = op.body;
  if (body === null || typeof body !== "object" || Array.isArray(body))
    return err(world, 400, msg.anyBadRequest);
  const keys = Object.keys(body);
  if (keys.length !== 1 || keys[0] !== "expires_at") return err(world, 400, msg.anyBadRequest);
  const value = (body as { expires_at: unknown }).expires_at;
  if (value !== null && !validExpiry(value, clockOf(world))) return err(world, 400, msg.invalidExpiry);
  const expiresAt = value as string | null;
  return {
    expected: {
      status: 200,
      body: memberJson(image, { ...row, expiresAt, updatedAt: new Ts(row.updatedAt) as unknown as string }),
    },
    next: (observed) => {
      const { updated_at } = stamps(observed);
      return withImage(world, image.id, (i) => ({
        ...i,
        members: i.members.map((m) =>
          m.memberId === op.member ? { ...m, expiresAt, updatedAt: updated_at } : m,
        ),
      }));
    },
  };
}

/**
 * §12.3 POST /v2/shares: every (image, member) pair that is no membership yet becomes a pending
 * one; all or nothing. Images (duplicates dropped: one image however its id is cased) are judged
 * in request order, each wholly — §5.1's 404 and 403s, then its quota — and the first refusal
 * answers. Bodies here are valid but for an expiry the reference refuses.
 */
function bulkShare(world: World, op: Extract<Op, { kind: "bulkShare" }>): Step {
  const expiry = op.body.expires_at ?? null;
  if (expiry !== null && !validExpiry(expiry, clockOf(world))) return err(world, 400, msg.invalidExpiry);
  const expiresAt = expiry as string | null;
  const raws: string[] = [];
  const keys = new Set<string>();
  for (const raw of op.body.images) {
    const key = UUID.test(raw) ? raw.toLowerCase() : `raw:${raw}`;
    if (!keys.has(key)) {
      keys.add(key);
      raws.push(raw);
    }
  }
  const members = [...new Set(op.body.members)];
  const images: ModelImage[] = [];
  for (const raw of raws) {
    const image = find(world, raw);
    const refused = addRefusal(op, image, raw);
    if (refused) return err(world, refused.status, refused.message);
    if (!image) throw new Error("unreachable: addRefusal passed without an image");
    const fresh = members.filter((m) => !membershipOf(image, m)).length;
    if (world.quota >= 0 && fresh > 0 && image.members.length + fresh > world.quota)
      return err(world, 413, msg.bulkQuota(raw, image.members.length + fresh, world.quota));
    images.push(image);
  }
  const pairs = images.flatMap((image) =>
    members.map((memberId) => ({ image, memberId, existing: membershipOf(image, memberId) })),
  );
  return {
    expected: {
      status: 200,
      body: {
        shares: pairs.map(({ image, memberId, existing }) => {
          if (existing) return { ...shareJson(image, existing), created: false };
          // Every membership this call creates carries the one instant of its transaction.
          const row: Membership = {
            memberId,
            status: "pending",
            createdAt: new Ts() as unknown as string,
            updatedAt: new Ts(undefined, "created_at") as unknown as string,
            expiresAt,
          };
          return { ...shareJson(image, row), created: true };
        }),
      },
    },
    next: (observed) => {
      const rows = (
        observed as {
          shares: {
            image_id: string;
            member_id: string;
            created_at: string;
            updated_at: string;
            created: boolean;
          }[];
        }
      ).shares;
      let after = world;
      for (const r of rows.filter((r) => r.created)) {
        const row: Membership = {
          memberId: r.member_id,
          status: "pending",
          createdAt: r.created_at,
          updatedAt: r.updated_at,
          expiresAt,
        };
        after = withImage(after, r.image_id, (i) => ({ ...i, members: [...i.members, row] }));
      }
      return after;
    },
  };
}

const compareKeys = (a: ShareKey, b: ShareKey): number => {
  for (let n = 0; n < 3; n++) {
    const x = a[n] as string;
    const y = b[n] as string;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
};

/**
 * §12.2 GET /v2/shares: get_shares on the caller's own project; then every live membership of
 * an image that takes members — all of them for an admin, else the caller's inbox (it is the
 * member) and what it shared (it owns the image) — filtered, in (created_at, image_id,
 * member_id) order, after the marker's row, one page.
 */
function listShares(world: World, op: Extract<Op, { kind: "listShares" }>): Step {
  const { actor, query: q } = op;
  const self: Facts = {
    admin: isAdmin(actor),
    reader: actor.roles.includes("reader"),
    member: actor.roles.includes("member"),
    owner: true,
    memberId: false,
    visibility: "shared",
  };
  if (!allowed(op.policy, "get_shares", self)) return err(world, 403, msg.notAuthorized("get_shares"));
  let after: ShareKey | null = null;
  if (q.marker !== undefined) {
    const key = world.markers?.[q.marker];
    if (!key) return err(world, 400, msg.badShareMarker);
    after = key;
  }
  const me = actor.project;
  const rows = world.images
    .filter((i) => hasMembers(i.visibility))
    .flatMap((image) => image.members.map((m) => ({ image, m })))
    .filter(({ image, m }) => isAdmin(actor) || m.memberId === me || image.owner === me)
    .filter(({ m }) => q.member_id === undefined || m.memberId === q.member_id)
    .filter(({ image }) => q.owner === undefined || image.owner === q.owner)
    .filter(({ image }) => q.image_id === undefined || image.id === q.image_id.toLowerCase())
    .filter(({ m }) => q.status === undefined || q.status === "all" || m.status === q.status)
    .map(({ image, m }) => ({ image, m, key: [m.createdAt, image.id, m.memberId] as ShareKey }))
    .filter(({ key }) => after === null || compareKeys(key, after) > 0)
    .sort((a, b) => compareKeys(a.key, b.key));
  const limit = Math.min(q.limit ?? 25, 1000);
  const page = rows.slice(0, limit);
  const query = sharesQueryString(q, false);
  const first = query ? `/v2/shares?${query}` : "/v2/shares";
  const last = page.at(-1);
  const full = last !== undefined && page.length === limit;
  const body: Record<string, unknown> = { shares: page.map(({ image, m }) => shareJson(image, m)), first };
  if (full) body.next = new NextLink(`${first}${query ? "&" : "?"}marker=`);
  body.schema = "/v2/schemas/shares";
  return {
    expected: { status: 200, body },
    next: (observed) => {
      const next = (observed as { next?: string }).next;
      if (!full || next === undefined) return world;
      const marker = new URLSearchParams(next.slice(next.indexOf("?") + 1)).get("marker") as string;
      return { ...world, markers: { ...(world.markers ?? {}), [marker]: last.key } };
    },
  };
}

// ---------------------------------------------------------------- images (docs/reference.md §8, §11)

/**
 * ImageAPIPolicy._enforce: a rule that fails on an image the caller may not get_image either
 * answers a bare 404, so that the refusal never tells that the image exists.
 */
function imageRule(op: Sent, image: ModelImage, rule: Rule): { status: number; message: string } | null {
  const f = facts(op.actor, image);
  if (allowed(op.policy, rule, f)) return null;
  if (!allowed(op.policy, "get_image", f)) return { status: 404, message: msg.resourceNotFound };
  return { status: 403, message: msg.notAuthorized(rule) };
}

/** _enforce_visibility: making an image public or community has its own rule, never hidden. */
function visibilityRule(op: Sent, f: Facts, visibility: Visibility): Rule | null {
  const rule =
    visibility === "public" ? "publicize_image" : visibility === "community" ? "communitize_image" : null;
  return rule && !allowed(op.policy, rule, f) ? rule : null;
}

/** ImageAPIPolicy.add_image: add_image, then the visibility's rule, on the image as asked for. */
function createImage(world: World, op: Extract<Op, { kind: "createImage" }>): Step {
  const visibility = op.visibility ?? "shared";
  const image: ModelImage = {
    id: op.id,
    owner: op.actor.project,
    visibility,
    name: op.name,
    tags: op.tags,
    createdAt: "",
    updatedAt: "",
    members: [],
  };
  const f = facts(op.actor, image);
  if (!allowed(op.policy, "add_image", f)) return err(world, 403, msg.notAuthorized("add_image"));
  const denied = visibilityRule(op, f, visibility);
  if (denied) return err(world, 403, msg.notAuthorized(denied));
  return {
    expected: {
      status: 201,
      body: imageJson(image, { created_at: new Ts(), updated_at: new Ts(undefined, "created_at") }),
    },
    next: (observed) => {
      const { created_at, updated_at } = stamps(observed);
      return {
        ...world,
        images: [...world.images, { ...image, createdAt: created_at, updatedAt: updated_at }],
      };
    },
  };
}

function showImage(world: World, op: Extract<Op, { kind: "showImage" }>): Step {
  const image = find(world, op.image);
  if (!image || !visible(op.actor, image)) return err(world, 404, msg.noImage(op.image));
  if (!allowed(op.policy, "get_image", facts(op.actor, image))) return err(world, 404, msg.resourceNotFound);
  return { expected: { status: 200, body: imageJson(image) }, next: same(world) };
}

/**
 * PATCH replace /visibility (images.py _do_replace → update_property): the new visibility's
 * rule (whatever the current one), then modify_image, then (legacy) check_is_image_mutable.
 * Members stay.
 */
function patchVisibility(world: World, op: Extract<Op, { kind: "patchVisibility" }>): Step {
  const image = find(world, op.image);
  if (!image || !visible(op.actor, image)) return err(world, 404, msg.noImage(op.image));
  const denied = visibilityRule(op, facts(op.actor, image), op.visibility);
  if (denied) return err(world, 403, msg.notAuthorized(denied));
  const refused = imageRule(op, image, "modify_image");
  if (refused) return err(world, refused.status, refused.message);
  if (legacy(op) && !isAdmin(op.actor) && !ownerOf(op, image)) return err(world, 403, msg.notOwner);
  const changed = { ...image, visibility: op.visibility };
  return {
    expected: {
      status: 200,
      body: imageJson(changed, { created_at: image.createdAt, updated_at: new Ts(image.updatedAt) }),
    },
    next: (observed) => {
      const { updated_at } = stamps(observed);
      return withImage(world, image.id, () => ({ ...changed, updatedAt: updated_at }));
    },
  };
}

/** images.py delete: delete_image, then (legacy) check_is_image_mutable. */
function deleteImage(world: World, op: Extract<Op, { kind: "deleteImage" }>): Step {
  const image = find(world, op.image);
  if (!image || !visible(op.actor, image)) return err(world, 404, msg.failedToDelete(op.image));
  const refused = imageRule(op, image, "delete_image");
  if (refused) return err(world, refused.status, refused.message);
  if (legacy(op) && !isAdmin(op.actor) && !ownerOf(op, image)) return err(world, 403, msg.notOwner);
  return { expected: { status: 204, body: null }, next: () => withImage(world, image.id, () => null) };
}

/** §8.3: the union for non-admins, everything (bar others' community images) for admins. */
export function listed(world: World, actor: Actor, q: ListQuery): ModelImage[] {
  const admin = isAdmin(actor);
  const allVis = q.visibility === "community" || q.visibility === "all";
  const memberStatus = q.member_status ?? "accepted";
  const inList = (i: ModelImage): boolean => {
    if (admin) return allVis || i.visibility !== "community" || i.owner === actor.project;
    if (i.visibility === "public" || i.owner === actor.project) return true;
    if (allVis && i.visibility === "community") return true;
    const m = hasMembers(i.visibility) ? membershipOf(i, actor.project) : undefined;
    return m !== undefined && (memberStatus === "all" || m.status === memberStatus);
  };
  return world.images
    .filter((i) => i.tags.includes(q.tag))
    .filter(inList)
    .filter((i) => q.visibility === undefined || q.visibility === "all" || i.visibility === q.visibility)
    .sort((a, b) =>
      a.createdAt !== b.createdAt ? (a.createdAt > b.createdAt ? -1 : 1) : a.id > b.id ? -1 : 1,
    );
}

/**
 * images.py index: get_images on the caller's own project (403 in Glance's words), the marker
 * (database: it must be an image the caller sees), then each image the database lists must pass
 * get_image. (Glance filters after the database paginated; with these rules the filter removes
 * all of a page or none of it, so filtering first gives the same pages.)
 */
function listImages(world: World, op: Extract<Op, { kind: "listImages" }>): Step {
  const { actor, query: q } = op;
  const self: Facts = {
    admin: isAdmin(actor),
    reader: actor.roles.includes("reader"),
    member: actor.roles.includes("member"),
    owner: true,
    memberId: false,
    visibility: "shared",
  };
  if (!allowed(op.policy, "get_images", self)) return err(world, 403, msg.notAuthorized("get_images"));
  let rows = listed(world, actor, q).filter((i) => allowed(op.policy, "get_image", facts(actor, i)));
  if (q.marker !== undefined) {
    // The marker is looked up exactly as sent, and must be an image the caller may see (§4).
    const mk = world.images.find((i) => i.id === q.marker);
    if (!mk || !visible(actor, mk)) return err(world, 400, msg.badMarker(q.marker));
    rows = rows.filter((i) => i.createdAt < mk.createdAt || (i.createdAt === mk.createdAt && i.id < mk.id));
  }
  const limit = Math.min(q.limit ?? 25, 1000);
  const page = rows.slice(0, limit);
  const first = `/v2/images?${queryString(q, false)}`;
  const last = page.at(-1);
  const body: Record<string, unknown> = { images: page.map((i) => imageJson(i)), first };
  if (last && page.length === limit) body.next = `/v2/images?${queryString({ ...q, marker: last.id })}`;
  body.schema = "/v2/schemas/images";
  return { expected: { status: 200, body }, next: same(world) };
}

/** What the API answers to `op` in `world`, and the world after it. */
export function step(current: World, op: Op): Step {
  // The database decides expiry at request time: what expired by now is gone (docs/reference.md §12.1).
  const world = prune(current);
  switch (op.kind) {
    case "createImage":
      return createImage(world, op);
    case "showImage":
      return showImage(world, op);
    case "patchVisibility":
      return patchVisibility(world, op);
    case "deleteImage":
      return deleteImage(world, op);
    case "listImages":
      return listImages(world, op);
    case "addMember":
      return addMember(world, op);
    case "listMembers":
      return listMembers(world, op);
    case "showMember":
      return showMember(world, op);
    case "updateMember":
      return updateMember(world, op);
    case "deleteMember":
      return deleteMember(world, op);
    case "setExpiry":
      return setExpiry(world, op);
    case "bulkShare":
      return bulkShare(world, op);
    case "listShares":
      return listShares(world, op);
  }
}

// ---------------------------------------------------------------- comparing answers

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/;

export function isTimestamp(v: unknown): v is string {
  if (typeof v !== "string") return false;
  const m = TIMESTAMP.exec(v);
  if (!m) return false;
  const d = new Date(v);
  return !Number.isNaN(d.getTime()) && `${d.toISOString().slice(0, 19)}Z` === v;
}

/**
 * Differences between an answer body and an expected one: values, key order of every object,
 * array order, and for `Ts` the format and constraints. Empty when they agree.
 */
export function differences(actual: unknown, expected: unknown, path = "$"): string[] {
  if (expected instanceof RegExp) {
    return typeof actual === "string" && expected.test(actual)
      ? []
      : [`${path}: ${JSON.stringify(actual)} does not match ${expected}`];
  }
  if (expected instanceof NextLink) {
    if (typeof actual !== "string" || !actual.startsWith(expected.prefix))
      return [`${path}: ${JSON.stringify(actual)} does not start with ${expected.prefix}`];
    return /^[A-Za-z0-9_-]+$/.test(actual.slice(expected.prefix.length))
      ? []
      : [`${path}: ${JSON.stringify(actual)}: the marker is not opaque base64url`];
  }
  if (expected instanceof Ts) {
    if (!isTimestamp(actual))
      return [`${path}: ${JSON.stringify(actual)} is not a YYYY-MM-DDThh:mm:ssZ timestamp`];
    if (expected.notBefore !== undefined && actual < expected.notBefore)
      return [`${path}: ${actual} is before ${expected.notBefore}`];
    return [];
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return [`${path}: expected an array, got ${JSON.stringify(actual)}`];
    if (actual.length !== expected.length)
      return [`${path}: expected ${expected.length} items, got ${actual.length}: ${JSON.stringify(actual)}`];
    return expected.flatMap((e, n) => differences(actual[n], e, `${path}[${n}]`));
  }
  if (expected !== null && typeof expected === "object") {
    if (actual === null || typeof actual !== "object" || Array.isArray(actual))
      return [`${path}: expected an object, got ${JSON.stringify(actual)}`];
    const a = actual as Record<string, unknown>;
    const e = expected as Record<string, unknown>;
    const keys = Object.keys(e);
    if (JSON.stringify(Object.keys(a)) !== JSON.stringify(keys))
      return [`${path}: keys ${JSON.stringify(Object.keys(a))}, expected ${JSON.stringify(keys)}`];
    const out: string[] = [];
    for (const k of keys) {
      const ev = e[k];
      out.push(...differences(a[k], ev, `${path}.${k}`));
      if (ev instanceof Ts && ev.sameAs !== undefined && a[k] !== a[ev.sameAs])
        out.push(`${path}.${k}: ${String(a[k])} differs from ${ev.sameAs} ${String(a[ev.sameAs])}`);
    }
    return out;
  }
  return Object.is(actual, expected)
    ? []
    : [`${path}: ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`];
}
