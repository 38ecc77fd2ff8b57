/**
 * A pure reference model of SPEC §4 (which images have members, who sees which image), §5 (the
 * member routes, their checks in order, status and body) and §8 / §8.3 (image show, create,
 * visibility PATCH, delete and the image list). Written from the SPEC, not from src/: it
 * imports nothing from the app, so the app is checked against an independent reading.
 *
 * Timestamps are the one thing the model cannot predict: expected bodies hold `Ts` matchers
 * (format, and ordering constraints), and `next(observed)` learns the values the server chose,
 * so later answers (order of lists, unchanged `created_at`) are still predicted exactly.
 */

export const VISIBILITIES = ["public", "community", "shared", "private"] as const;
export type Visibility = (typeof VISIBILITIES)[number];
export const STATUSES = ["pending", "accepted", "rejected"] as const;
export type MemberStatus = (typeof STATUSES)[number];

export interface Actor {
  project: string;
  admin: boolean;
}

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

/** One request, concrete: ids and paths resolved. `image` is the raw path segment. */
export type Op =
  | { kind: "createImage"; actor: Actor; id: string; name: string; tags: string[]; visibility?: Visibility }
  | { kind: "showImage"; actor: Actor; image: string }
  | { kind: "patchVisibility"; actor: Actor; image: string; visibility: Visibility }
  | { kind: "deleteImage"; actor: Actor; image: string }
  | { kind: "listImages"; actor: Actor; query: ListQuery }
  | { kind: "addMember"; actor: Actor; image: string; body: { member_id?: string; member?: string } }
  | { kind: "listMembers"; actor: Actor; image: string }
  | { kind: "showMember"; actor: Actor; image: string; member: string }
  | { kind: "updateMember"; actor: Actor; image: string; member: string; status: unknown }
  | { kind: "deleteMember"; actor: Actor; image: string; member: string };

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

/** SPEC §4: admin, owner, public/community, or shared/private with a membership in any status. */
export function visible(actor: Actor, image: ModelImage): boolean {
  return (
    actor.admin ||
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

// ---------------------------------------------------------------- messages (SPEC §5, §8)

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
  notOwner: "You do not own this image",
  publicize: "You are not authorized to complete publicize_image action.",
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

// ---------------------------------------------------------------- the member routes (SPEC §5)

/** §5.1 POST members. Body errors (step 1–2) are the fuzz suite's job; bodies here are valid. */
function addMember(world: World, op: Extract<Op, { kind: "addMember" }>): Step {
  const { actor } = op;
  const memberId = op.body.member_id !== undefined ? op.body.member_id : (op.body.member as string);
  const image = find(world, op.image);
  if (!image || !visible(actor, image)) return err(world, 404, msg.imageNotFound(op.image));
  if (!hasMembers(image.visibility)) return err(world, 403, msg.notAllowed("create", op.image));
  if (!actor.admin && image.owner !== actor.project)
    return err(world, 403, msg.notAllowed("create", op.image));
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
  const { actor } = op;
  const image = find(world, op.image);
  if (!image || !visible(actor, image)) return err(world, 404, msg.imageNotFound(op.image));
  if (!hasMembers(image.visibility)) return err(world, 403, msg.listNotAllowed(op.image));
  const all = actor.admin || image.owner === actor.project;
  const rows = image.members.filter((m) => all || m.memberId === actor.project).sort(byCreatedThenMember);
  return {
    expected: {
      status: 200,
      body: { members: rows.map((m) => memberJson(image, m)), schema: "/v2/schemas/members" },
    },
    next: same(world),
  };
}

/** §5.3 GET a member: owner, admin, or that member. */
function showMember(world: World, op: Extract<Op, { kind: "showMember" }>): Step {
  const { actor } = op;
  const image = find(world, op.image);
  if (!image || !visible(actor, image)) return err(world, 404, msg.imageNotFound(op.image));
  if (!hasMembers(image.visibility)) return err(world, 404, msg.noMembers);
  const row = membershipOf(image, op.member);
  const mayRead = actor.admin || image.owner === actor.project || op.member === actor.project;
  if (!row || !mayRead) return err(world, 404, msg.memberNotFound(op.image, op.member));
  return { expected: { status: 200, body: memberJson(image, row) }, next: same(world) };
}

/** §5.4 PUT a member's status: that member or an admin; never the (non-admin) owner. */
function updateMember(world: World, op: Extract<Op, { kind: "updateMember" }>): Step {
  const { actor } = op;
  const image = find(world, op.image);
  if (!image || !visible(actor, image)) return err(world, 404, msg.imageNotFound(op.image));
  if (!hasMembers(image.visibility)) return err(world, 403, msg.notAllowed("update", op.image));
  if (image.owner === actor.project && !actor.admin)
    return err(world, 403, msg.notAllowed("update", op.image));
  const row = membershipOf(image, op.member);
  if (!row || !(actor.admin || op.member === actor.project))
    return err(world, 404, msg.memberNotFound(op.image, op.member));
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

/** §5.5 DELETE a member: owner or admin; the membership is gone. */
function deleteMember(world: World, op: Extract<Op, { kind: "deleteMember" }>): Step {
  const { actor } = op;
  const image = find(world, op.image);
  if (!image || !visible(actor, image)) return err(world, 404, msg.imageNotFound(op.image));
  if (!hasMembers(image.visibility)) return err(world, 403, msg.notAllowed("delete", op.image));
  if (!actor.admin && image.owner !== actor.project)
    return err(world, 403, msg.notAllowed("delete", op.image));
  if (!membershipOf(image, op.member)) return err(world, 404, msg.memberNotFound(op.image, op.member));
  return {
    expected: { status: 204, body: null },
    next: () =>
      withImage(world, image.id, (i) => ({
        ...i,
        members: i.members.filter((m) => m.memberId !== op.member),
      })),
  };
}

// ---------------------------------------------------------------- images (SPEC §8)

function createImage(world: World, op: Extract<Op, { kind: "createImage" }>): Step {
  const visibility = op.visibility ?? "shared";
  if (visibility === "public" && !op.actor.admin) return err(world, 403, msg.publicize);
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
  return { expected: { status: 200, body: imageJson(image) }, next: same(world) };
}

/** PATCH replace /visibility: owner or admin; only an admin makes an image public. Members stay. */
function patchVisibility(world: World, op: Extract<Op, { kind: "patchVisibility" }>): Step {
  const { actor } = op;
  const image = find(world, op.image);
  if (!image || !visible(actor, image)) return err(world, 404, msg.noImage(op.image));
  if (!actor.admin && image.owner !== actor.project) return err(world, 403, msg.notOwner);
  if (!actor.admin && op.visibility === "public" && image.visibility !== "public")
    return err(world, 403, msg.publicize);
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

function deleteImage(world: World, op: Extract<Op, { kind: "deleteImage" }>): Step {
  const { actor } = op;
  const image = find(world, op.image);
  if (!image || !visible(actor, image)) return err(world, 404, msg.noImage(op.image));
  if (!actor.admin && image.owner !== actor.project) return err(world, 403, msg.notOwner);
  return { expected: { status: 204, body: null }, next: () => withImage(world, image.id, () => null) };
}

/** §8.3: the union for non-admins, everything (bar others' community images) for admins. */
export function listed(world: World, actor: Actor, q: ListQuery): ModelImage[] {
  const allVis = q.visibility === "community" || q.visibility === "all";
  const memberStatus = q.member_status ?? "accepted";
  const inList = (i: ModelImage): boolean => {
    if (actor.admin) return allVis || i.visibility !== "community" || i.owner === actor.project;
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

function listImages(world: World, op: Extract<Op, { kind: "listImages" }>): Step {
  const { actor, query: q } = op;
  let rows = listed(world, actor, q);
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
