/**
 * A pure reference model of SPEC §4 (which images have members, who sees which image), §5 (the
 * member routes, their checks in order, status and body), §8 / §8.3 (image show, create,
 * visibility PATCH, delete and the image list) and §11 (roles, under both rule sets: Glance's
 * current `secure-rbac` defaults and Glance ≤ Zed's `legacy` ones, plus rules an operator
 * overrides to deny). Written from the SPEC and from Glance itself (glance/api/v2/images.py,
 * image_members.py, policy.py, glance/policies/base.py), not from src/: it imports nothing from
 * the app, and states each rule as plain logic rather than as a check string, so the app — its
 * check-string engine, its SQL guards, its order of steps — is checked against an independent
 * reading.
 *
 * Timestamps are the one thing the model cannot predict: expected bodies hold `Ts` matchers
 * (format, and ordering constraints), and `next(observed)` learns the values the server chose,
 * so later answers (order of lists, unchanged `created_at`) are still predicted exactly.
 */

export const VISIBILITIES = ["public", "community", "shared", "private"] as const;
export type Visibility = (typeof VISIBILITIES)[number];
export const STATUSES = ["pending", "accepted", "rejected"] as const;
export type MemberStatus = (typeof STATUSES)[number];

// ---------------------------------------------------------------- callers and rule sets (SPEC §1, §11)

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
    case "publicize_image":
      return f.admin;
    case "communitize_image":
    case "modify_image":
    case "delete_image":
    case "add_member":
    case "delete_member":
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

export interface World {
  /** Live images only: a deleted image (and its members) is gone. */
  images: ModelImage[];
  /** IMAGE_MEMBER_QUOTA: negative = unlimited. */
  quota: number;
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
    | { kind: "addMember"; image: string; body: { member_id?: string; member?: string } }
    | { kind: "listMembers"; image: string }
    | { kind: "showMember"; image: string; member: string }
    | { kind: "updateMember"; image: string; member: string; status: unknown }
    | { kind: "deleteMember"; image: string; member: string }
  );

/** A timestamp the server chooses: RFC 3339 UTC seconds, optionally not before another one. */
export class Ts {
  constructor(
    readonly notBefore?: string,
    /** The same value as this sibling key of the same object. */
    readonly sameAs?: string,
  ) {}
}

export type Expected = { status: number; message: string } | { status: number; body: unknown };

export interface Step {
  expected: Expected;
  /** The world after the request, given the answer's body (timestamps are learnt from it). */
  next(observed: unknown): World;
}

// ---------------------------------------------------------------- SPEC §4: visibility

export const hasMembers = (v: Visibility) => v === "shared" || v === "private";

export function membershipOf(image: ModelImage, project: string): Membership | undefined {
  return image.members.find((m) => m.memberId === project);
}

/**
 * SPEC §4 (Glance's database layer, before any policy): admin, owner, public/community, or
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

// ---------------------------------------------------------------- messages (SPEC §5, §8, §11)

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
};

// ---------------------------------------------------------------- views (SPEC §5, §8)

export function memberJson(image: ModelImage, m: Membership) {
  return {
    member_id: m.memberId,
    image_id: image.id,
    status: m.status,
    created_at: m.createdAt,
    updated_at: m.updatedAt,
    schema: "/v2/schemas/member",
  };
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
const err = (world: World, status: number, message: string): Step => ({
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

// ---------------------------------------------------------------- the member routes (SPEC §5, §11)

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

/** §5.1 POST members. Body errors (step 1–2) are the fuzz suite's job; bodies here are valid. */
function addMember(world: World, op: Extract<Op, { kind: "addMember" }>): Step {
  const memberId = op.body.member_id !== undefined ? op.body.member_id : (op.body.member as string);
  const image = find(world, op.image);
  if (!image || !visible(op.actor, image)) return err(world, 404, msg.imageNotFound(op.image));
  if (!hasMembers(image.visibility)) return err(world, 403, msg.notAllowed("create", op.image));
  // _check_visibility_and_ownership('create'), without enforce_new_defaults only.
  if (legacy(op) && !isAdmin(op.actor) && !ownerOf(op, image))
    return err(world, 403, msg.notAllowed("create", op.image));
  const refused = memberRule(op, image, "add_member");
  if (refused) return err(world, refused.status, refused.message);
  if (world.quota >= 0 && image.members.length >= world.quota)
    return err(world, 413, msg.quota(op.image, image.members.length, world.quota));
  if (membershipOf(image, memberId)) return err(world, 409, msg.duplicate(op.image, memberId));
  return {
    expected: {
      status: 200,
      body: {
        member_id: memberId,
        image_id: image.id,
        status: "pending",
        created_at: new Ts(),
        updated_at: new Ts(undefined, "created_at"),
        schema: "/v2/schemas/member",
      },
    },
    next: (observed) => {
      const { created_at, updated_at } = stamps(observed);
      const row: Membership = { memberId, status: "pending", createdAt: created_at, updatedAt: updated_at };
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

// ---------------------------------------------------------------- images (SPEC §8, §11)

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
export function step(world: World, op: Op): Step {
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
