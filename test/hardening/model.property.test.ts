import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BASE, type CallOptions, call, JSON_PATCH, LEAK, REASONS } from "../helpers";
import {
  type Actor,
  type BulkBody,
  differences,
  EXPIRED_AT,
  type Expected,
  expire,
  isAdmin,
  type ListQuery,
  type MemberStatus,
  msg,
  type Op,
  type Policy,
  policyVars,
  queryString,
  ROLE_SETS,
  type RoleSetName,
  type Rule,
  type RuleSet,
  type SharesQuery,
  STATUSES,
  sharesQueryString,
  stampOf,
  step,
  Ts,
  VISIBILITIES,
  type Visibility,
  type World,
} from "./model";

/**
 * Sequences of operations by four projects, each request sent with one of the role sets a
 * Keystone token carries (none, reader, member + reader, admin + member + reader) and under
 * either rule set (docs/reference.md §11: `secure-rbac`, `legacy`; a sequence uses one of them or both,
 * request by request, over the same data), sometimes with one rule overridden to deny. A
 * project's relation to an image is whatever the sequence made it: owner of one, member of
 * another (in any status), stranger to a third. Every answer is checked — status and body —
 * against the reference model. Each run has its own projects and tag, so runs (and fast-check's
 * shrinking replays) never see each other's data.
 *
 * Time and bulk (docs/reference.md §12): adds may carry an expiry (an hour or two ahead, or one the reference
 * refuses), owners and admins PATCH it (set later, clear, or a refused body), and an `expire`
 * command moves a membership past its expiry — the database reads its own wall clock, so the
 * runner writes `expires_at` into the past in D1 and tells the model the same — after which the
 * membership must be gone for every purpose. POST /v2/shares shares images with projects all or
 * nothing; GET /v2/shares lists what the caller shared and was shared, filtered and paged, and
 * the model predicts every row. Admins see every run's shares, so their listings always carry
 * a filter that only this run's data matches.
 */

/** The abstract operations fast-check generates; the runner turns them into concrete `Op`s. */
type ImageRef = { index: number; form: "exact" | "upper" | "missing" | "malformed" };
/** Who sends it: a project, a role set, the rule set (when the sequence mixes them), a denied rule. */
type Who = { actor: number; roles: RoleSetName; legacy: boolean; deny: Rule | undefined };
/** An expiry as a body carries it: none, null, ahead (valid), or one docs/reference.md §12.1 refuses. */
type Expiry = "none" | "null" | "hour" | "twoHours" | "past" | "far" | "impossible" | "malformed";
/** A PATCH member body: set, clear, or one refused after the lookups. */
type PatchBody = "hour" | "twoHours" | "clear" | "past" | "malformed" | "extra" | "empty" | "array";
type Target = number | "self";
type Abstract = { who: Who } & (
  | { kind: "createImage"; visibility: Visibility | undefined }
  | { kind: "showImage" | "deleteImage" | "listMembers"; image: ImageRef }
  | { kind: "patchVisibility"; image: ImageRef; visibility: Visibility }
  | {
      kind: "listImages";
      visibility: Visibility | "all" | undefined;
      memberStatus: MemberStatus | "all" | undefined;
      limit: number | undefined;
      marker: number | undefined;
    }
  | {
      kind: "addMember";
      image: ImageRef;
      member: Target;
      form: "member_id" | "member" | "both";
      expiry?: Expiry;
    }
  | { kind: "setExpiry"; image: ImageRef; member: Target; body: PatchBody }
  | { kind: "bulkShare"; images: ImageRef[]; members: Target[]; expiry: Expiry }
  | {
      kind: "listShares";
      memberId: Target | undefined;
      owner: Target | undefined;
      image: ImageRef | undefined;
      status: MemberStatus | "all" | undefined;
      limit: number | undefined;
      /** One of the markers the run was answered (by index), or one that is not a marker. */
      marker: number | "bogus" | undefined;
    }
  /** Not a request: the membership's expiry passes (written to D1 directly). */
  | { kind: "expire"; image: ImageRef; member: Target }
  | { kind: "showMember" | "deleteMember"; image: ImageRef; member: number | "self" }
  | { kind: "updateMember"; image: ImageRef; member: number | "self"; status: unknown; extra: boolean }
);

/** How a sequence picks the rule set of each request. */
type Mode = RuleSet | "mixed";
const mode: fc.Arbitrary<Mode> = fc.constantFrom("secure-rbac", "legacy", "mixed");

const roles: fc.Arbitrary<RoleSetName> = fc.oneof(
  { weight: 5, arbitrary: fc.constant("member" as const) },
  { weight: 2, arbitrary: fc.constant("admin" as const) },
  { weight: 2, arbitrary: fc.constant("reader" as const) },
  { weight: 2, arbitrary: fc.constant("none" as const) },
);
/** A rule an operator denied (`"!"`), mostly one whose refusal the defaults never reach. */
const deniedRule: fc.Arbitrary<Rule> = fc.constantFrom<Rule>(
  "get_member",
  "get_member",
  "get_members",
  "get_members",
  "get_image",
  "add_member",
  "modify_member",
  "delete_member",
  "get_images",
  "modify_image",
  "delete_image",
  "communitize_image",
  "add_image",
  "set_member_expiry",
  "get_shares",
);
/**
 * A request's denied rule: rarely, one request in six. (Not fc.option(…, { freq: 6 }), whose
 * `freq` means the other way round: the nil value one time in `freq`.)
 */
const deny: fc.Arbitrary<Rule | undefined> = fc.oneof(
  { weight: 5, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: deniedRule },
);
const who = (
  actor: fc.Arbitrary<number> = fc.nat({ max: 3 }),
  r: fc.Arbitrary<RoleSetName> = roles,
  denied: fc.Arbitrary<Rule | undefined> = deny,
) => fc.record({ actor, roles: r, legacy: fc.boolean(), deny: denied });

/** A member id: one of the pool, or (often) the calling project's own id. */
const member: fc.Arbitrary<number | "self"> = fc.oneof(fc.nat({ max: 5 }), fc.constant("self" as const));
/** Who gets added: mostly the projects that also call, so they can then act as members. */
const added: fc.Arbitrary<number | "self"> = fc.oneof(fc.constantFrom(1, 2, 3), member);
// Half of the references go to the run's first image, so memberships build up on it.
const imageRef: fc.Arbitrary<ImageRef> = fc.record({
  index: fc.oneof(fc.constant(0), fc.nat({ max: 7 })),
  form: fc.constantFrom("exact", "exact", "exact", "exact", "exact", "upper", "missing", "malformed"),
});
const visibility = fc.constantFrom(...VISIBILITIES);
const optional = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });

/** Mostly none or valid, sometimes null, sometimes one docs/reference.md §12.1 refuses. */
const expiry: fc.Arbitrary<Expiry> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<Expiry>("none", "hour", "twoHours") },
  { weight: 1, arbitrary: fc.constantFrom<Expiry>("null", "past", "far", "impossible", "malformed") },
);
const patchBody: fc.Arbitrary<PatchBody> = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom<PatchBody>("hour", "twoHours", "clear") },
  { weight: 3, arbitrary: fc.constantFrom<PatchBody>("past", "malformed", "extra", "empty", "array") },
);
const shareStatus = optional(fc.constantFrom(...STATUSES, "all" as const));
/** GET /v2/shares with any filters, small pages and markers. */
const listSharesOp = (w: fc.Arbitrary<Who>, image: fc.Arbitrary<ImageRef>): fc.Arbitrary<Abstract> =>
  fc.record({
    who: w,
    kind: fc.constant("listShares" as const),
    memberId: fc.option(member, { freq: 4, nil: undefined }),
    owner: fc.option(fc.constantFrom<Target>(0, 0, 1, "self"), { freq: 4, nil: undefined }),
    image: fc.option(image, { freq: 4, nil: undefined }),
    status: shareStatus,
    limit: optional(fc.integer({ min: 1, max: 3 })),
    marker: fc.option(fc.oneof(fc.nat({ max: 7 }), fc.constant("bogus" as const)), {
      freq: 2,
      nil: undefined,
    }),
  });

const abstractOp: fc.Arbitrary<Abstract> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ who: who(), kind: fc.constant("createImage"), visibility: optional(visibility) }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      who: who(),
      kind: fc.constant("addMember"),
      image: imageRef,
      member: added,
      form: fc.constantFrom("member_id", "member_id", "member", "both"),
      expiry,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      who: who(),
      kind: fc.constant("setExpiry"),
      image: imageRef,
      member,
      body: patchBody,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      who: who(),
      kind: fc.constant("bulkShare"),
      images: fc.array(imageRef, { minLength: 1, maxLength: 3 }),
      members: fc.array(added, { minLength: 1, maxLength: 3 }),
      expiry,
    }),
  },
  { weight: 2, arbitrary: listSharesOp(who(), imageRef) },
  {
    weight: 1,
    arbitrary: fc.record({ who: who(), kind: fc.constant("expire"), image: imageRef, member: added }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      who: who(),
      kind: fc.constant("updateMember"),
      image: imageRef,
      member,
      status: fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom<unknown>(...STATUSES) },
        {
          weight: 1,
          arbitrary: fc.constantFrom<unknown>("ACCEPTED", "", null, 1, ["accepted"], "accepted "),
        },
      ),
      extra: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ who: who(), kind: fc.constant("listMembers"), image: imageRef }) },
  {
    weight: 2,
    arbitrary: fc.record({ who: who(), kind: fc.constant("showMember"), image: imageRef, member }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ who: who(), kind: fc.constant("deleteMember"), image: imageRef, member }),
  },
  { weight: 3, arbitrary: fc.record({ who: who(), kind: fc.constant("showImage"), image: imageRef }) },
  {
    weight: 3,
    arbitrary: fc.record({ who: who(), kind: fc.constant("patchVisibility"), image: imageRef, visibility }),
  },
  { weight: 2, arbitrary: fc.record({ who: who(), kind: fc.constant("deleteImage"), image: imageRef }) },
  {
    weight: 3,
    arbitrary: fc.record({
      who: who(),
      kind: fc.constant("listImages"),
      visibility: optional(fc.constantFrom(...VISIBILITIES, "all" as const)),
      memberStatus: optional(fc.constantFrom(...STATUSES, "all" as const)),
      limit: optional(fc.integer({ min: 1, max: 3 })),
      marker: optional(fc.nat({ max: 7 })),
    }),
  },
);

const quota = fc.constantFrom(-1, 2, 3, 128);

/**
 * What each property must reach, by rule set, route, status and which refusal: so that each
 * checks its own coverage, whatever ran before it, and between them every outcome of every route
 * under both rule sets (docs/reference.md §12's too). Each outcome is asked of the property that reaches it
 * most often (measured: at least 8 times a run, most far more).
 */
const REACHES: Record<"sequences" | "membership" | "time" | "roles", readonly string[]> = {
  sequences: [
    "secure-rbac createImage 201",
    "legacy createImage 201",
    "secure-rbac createImage 403 publicize_image",
    "legacy createImage 403 publicize_image",
    // What the secure-rbac defaults answer a caller short of a role.
    "secure-rbac createImage 403 add_image",
    "secure-rbac showImage 200",
    "legacy showImage 200",
    "secure-rbac showImage 404",
    "legacy showImage 404",
    "secure-rbac patchVisibility 404",
    "legacy patchVisibility 404",
    "secure-rbac deleteImage 404",
    "legacy deleteImage 404",
    "secure-rbac listImages 400",
    "legacy listImages 400",
    "secure-rbac addMember 400",
    "legacy addMember 400",
    "secure-rbac addMember 404",
    "legacy addMember 404",
    "secure-rbac listMembers 200",
    "secure-rbac listMembers 403",
    "secure-rbac listShares 200",
  ],
  membership: [
    "secure-rbac patchVisibility 200",
    "legacy patchVisibility 200",
    "secure-rbac patchVisibility 403 publicize_image",
    "legacy patchVisibility 403 publicize_image",
    "secure-rbac listImages 200",
    "legacy listImages 200",
    "legacy addMember 200",
    "secure-rbac addMember 403",
    "legacy addMember 403",
    "secure-rbac addMember 403 add_member",
    "secure-rbac addMember 409",
    "legacy addMember 409",
    "secure-rbac addMember 413",
    "legacy addMember 413",
    "legacy listMembers 200",
    "legacy listMembers 403",
    "secure-rbac listMembers 404",
    "legacy listMembers 404",
    "secure-rbac showMember 200",
    "legacy showMember 200",
    "secure-rbac showMember 404",
    "legacy showMember 404",
    "legacy updateMember 200",
    "secure-rbac updateMember 400",
    "legacy updateMember 400",
    "secure-rbac updateMember 403",
    "legacy updateMember 403",
    "secure-rbac updateMember 403 modify_member",
    "secure-rbac updateMember 404",
    "legacy updateMember 404",
    "secure-rbac deleteMember 204",
    "legacy deleteMember 204",
    "secure-rbac deleteMember 403",
    "legacy deleteMember 403",
    "secure-rbac deleteMember 404",
    "legacy deleteMember 404",
  ],
  // docs/reference.md §12: expiry, bulk shares, share listings, and what their rules refuse under secure-rbac.
  time: [
    "secure-rbac setExpiry 200",
    "legacy setExpiry 200",
    "secure-rbac setExpiry 400",
    "legacy setExpiry 400",
    "secure-rbac setExpiry 403",
    "legacy setExpiry 403",
    "secure-rbac setExpiry 403 set_member_expiry",
    "secure-rbac setExpiry 404",
    "legacy setExpiry 404",
    "secure-rbac bulkShare 200",
    "legacy bulkShare 200",
    "secure-rbac bulkShare 400",
    "legacy bulkShare 400",
    "secure-rbac bulkShare 403",
    "legacy bulkShare 403",
    "secure-rbac bulkShare 403 add_member",
    "secure-rbac bulkShare 404",
    "legacy bulkShare 404",
    "secure-rbac bulkShare 413",
    "legacy bulkShare 413",
    "legacy listShares 200",
    "secure-rbac listShares 400",
    "legacy listShares 400",
    "secure-rbac listShares 403 get_shares",
  ],
  roles: [
    "secure-rbac deleteImage 204",
    "legacy deleteImage 204",
    "secure-rbac addMember 200",
    "secure-rbac updateMember 200",
    // The secure-rbac defaults' refusals, hidden (a bare 404) from who may not get_image.
    "secure-rbac showImage 404 hidden",
    "secure-rbac patchVisibility 403 communitize_image",
    "secure-rbac patchVisibility 403 modify_image",
    "secure-rbac patchVisibility 404 hidden",
    "secure-rbac deleteImage 403 delete_image",
    "secure-rbac deleteImage 404 hidden",
    "secure-rbac listMembers 404 hidden",
    "secure-rbac showMember 404 hidden",
    "secure-rbac updateMember 404 hidden",
    "secure-rbac deleteMember 403 delete_member",
    "secure-rbac deleteMember 404 hidden",
    // Glance's own owner checks, which run only without enforce_new_defaults.
    "legacy patchVisibility 403",
    "legacy deleteImage 403",
    // An operator's "!" reaches these in either rule set.
    "secure-rbac addMember 404 hidden",
    "legacy addMember 404 hidden",
    "secure-rbac listMembers 403 get_members",
    "legacy listMembers 403 get_members",
    "secure-rbac showMember 404 get_member",
    "legacy showMember 404 get_member",
    "secure-rbac updateMember 403 get_member",
    "legacy updateMember 403 get_member",
    "secure-rbac deleteMember 403 get_member",
    "legacy deleteMember 403 get_member",
    "secure-rbac listImages 403 get_images",
    "legacy listImages 403 get_images",
  ],
};

/** What one test's runs reached: outcomes (rule set, route, status, which refusal) and expiries. */
class Coverage {
  readonly outcomes = new Map<string, number>();
  expirations = 0;

  /** The outcomes of `expected` no run reached. */
  missing(expected: readonly string[]): string[] {
    return expected.filter((k) => !this.outcomes.has(k));
  }

  toString(): string {
    return `${this.expirations} expiries; ${JSON.stringify(Object.fromEntries([...this.outcomes].sort()))}`;
  }
}

/** The outcome an expected answer stands for: status, and for refusals of §11 which one. */
function outcome(rules: RuleSet, kind: string, e: Expected): string {
  const base = `${rules} ${kind} ${e.status}`;
  if (!("message" in e) || typeof e.message !== "string") return base;
  const rule = /^You are not authorized to complete (\w+) action\.$/.exec(e.message)?.[1];
  if (rule) return `${base} ${rule}`;
  return e.message === msg.resourceNotFound ? `${base} hidden` : base;
}

const ADMIN_ROLES = ROLE_SETS.admin;

/** One run's cast and bookkeeping: ids are fresh per run. */
class Run {
  readonly tag = `run-${crypto.randomUUID()}`;
  readonly projects: string[];
  readonly members: string[];
  /** Every image id this run created, deleted ones included, in creation order. */
  readonly created: string[] = [];
  readonly log: string[] = [];
  world: World;

  constructor(
    quota: number,
    readonly mode: Mode,
    readonly coverage: Coverage,
  ) {
    const r = crypto.randomUUID().slice(0, 8);
    this.projects = [`pa-${r}`, `pb-${r}`, `pc-${r}`, `pd-${r}`];
    // Member ids: the four callers, a project that never calls, and a case variant (ids are exact).
    this.members = [...this.projects, `out-${r}`, `PA-${r}`];
    this.world = { images: [], quota, markers: {} };
  }

  /** The value of an expiry choice, against the clock now. */
  expiry(e: Expiry): unknown {
    const now = Date.now();
    switch (e) {
      case "none":
        return undefined;
      case "null":
        return null;
      case "hour":
        return stampOf(now + 3_600_000);
      case "twoHours":
        return stampOf(now + 7_200_000);
      case "past":
        return EXPIRED_AT;
      case "far":
        return stampOf(now + 11 * 366 * 86_400_000);
      case "impossible":
        return "2031-02-30T00:00:00Z";
      case "malformed":
        return stampOf(now + 3_600_000).replace("T", " ");
    }
  }

  image(ref: ImageRef): string {
    const id = this.created.length > 0 ? this.created[ref.index % this.created.length] : undefined;
    if (ref.form === "malformed") return "not-a-uuid";
    if (ref.form === "missing" || id === undefined) return crypto.randomUUID();
    return ref.form === "upper" ? id.toUpperCase() : id;
  }

  policy(w: Who): Policy {
    const rules: RuleSet = this.mode === "mixed" ? (w.legacy ? "legacy" : "secure-rbac") : this.mode;
    return w.deny ? { rules, denied: [w.deny] } : { rules };
  }

  concrete(a: Abstract): Op {
    const actor: Actor = { project: this.projects[a.who.actor] as string, roles: ROLE_SETS[a.who.roles] };
    const sent = { actor, policy: this.policy(a.who) };
    const memberId = (n: number | "self") => (n === "self" ? actor.project : (this.members[n] as string));
    switch (a.kind) {
      case "createImage":
        return {
          ...sent,
          kind: "createImage",
          id: crypto.randomUUID(),
          name: `img-${this.created.length}`,
          tags: [this.tag],
          visibility: a.visibility,
        };
      case "showImage":
      case "deleteImage":
      case "listMembers":
        return { ...sent, kind: a.kind, image: this.image(a.image) };
      case "patchVisibility":
        return { ...sent, kind: a.kind, image: this.image(a.image), visibility: a.visibility };
      case "listImages": {
        const query: ListQuery = { tag: this.tag };
        if (a.visibility !== undefined) query.visibility = a.visibility;
        if (a.memberStatus !== undefined) query.member_status = a.memberStatus;
        if (a.limit !== undefined) query.limit = a.limit;
        if (a.marker !== undefined && this.created.length > 0)
          query.marker = this.created[a.marker % this.created.length];
        return { ...sent, kind: a.kind, query };
      }
      case "addMember": {
        const id = memberId(a.member);
        const other = this.members[(this.members.indexOf(id) + 1) % this.members.length] as string;
        const body: { member_id?: string; member?: string; expires_at?: unknown } =
          a.form === "member_id"
            ? { member_id: id }
            : a.form === "member"
              ? { member: id }
              : { member: other, member_id: id };
        const expires = this.expiry(a.expiry ?? "none");
        if (expires !== undefined) body.expires_at = expires;
        return { ...sent, kind: a.kind, image: this.image(a.image), body };
      }
      case "setExpiry": {
        const bodies: Record<PatchBody, () => unknown> = {
          hour: () => ({ expires_at: this.expiry("hour") }),
          twoHours: () => ({ expires_at: this.expiry("twoHours") }),
          clear: () => ({ expires_at: null }),
          past: () => ({ expires_at: EXPIRED_AT }),
          malformed: () => ({ expires_at: "soon" }),
          extra: () => ({ expires_at: this.expiry("hour"), status: "accepted" }),
          empty: () => ({}),
          array: () => [{ expires_at: null }],
        };
        return {
          ...sent,
          kind: a.kind,
          image: this.image(a.image),
          member: memberId(a.member),
          body: bodies[a.body](),
        };
      }
      case "bulkShare": {
        const body: BulkBody = {
          images: a.images.map((i) => this.image(i)),
          members: a.members.map(memberId),
        };
        const expires = this.expiry(a.expiry);
        if (expires !== undefined) body.expires_at = expires;
        return { ...sent, kind: a.kind, body };
      }
      case "listShares": {
        const query: SharesQuery = {};
        if (a.memberId !== undefined) query.member_id = memberId(a.memberId);
        if (a.owner !== undefined) query.owner = a.owner === "self" ? actor.project : this.projects[a.owner];
        if (a.image !== undefined) query.image_id = this.image(a.image);
        // An admin sees every run's shares: a filter keeps the listing to this run's.
        if (isAdmin(actor) && !query.member_id && !query.owner && !query.image_id)
          query.owner = this.projects[0] as string;
        if (a.status !== undefined) query.status = a.status;
        if (a.limit !== undefined) query.limit = a.limit;
        if (a.marker !== undefined) {
          const known = Object.keys(this.world.markers ?? {});
          // "e30" is base64url for `{}`: a marker's form, not a marker.
          query.marker = a.marker === "bogus" || known.length === 0 ? "e30" : known[a.marker % known.length];
        }
        return { ...sent, kind: a.kind, query };
      }
      case "expire":
        throw new Error("expire is no request");
      case "showMember":
      case "deleteMember":
        return { ...sent, kind: a.kind, image: this.image(a.image), member: memberId(a.member) };
      case "updateMember":
        return {
          ...sent,
          kind: a.kind,
          image: this.image(a.image),
          member: memberId(a.member),
          status: a.status,
        };
    }
  }

  /** The request of `op`: method, path, and a body when it has one. */
  request(op: Op, extra = false): { method: string; path: string } & CallOptions {
    const json = (method: string, path: string, body: unknown, type?: string) => ({
      method,
      path,
      body,
      type,
    });
    const plain = (method: string, path: string) => ({ method, path });
    const members = (image: string) => `/v2/images/${image}/members`;
    const one = (image: string, m: string) => `${members(image)}/${encodeURIComponent(m)}`;
    switch (op.kind) {
      case "createImage": {
        const body: Record<string, unknown> = { id: op.id, name: op.name, tags: op.tags };
        if (op.visibility !== undefined) body.visibility = op.visibility;
        return json("POST", "/v2/images", body);
      }
      case "showImage":
        return plain("GET", `/v2/images/${op.image}`);
      case "patchVisibility":
        return json(
          "PATCH",
          `/v2/images/${op.image}`,
          [{ op: "replace", path: "/visibility", value: op.visibility }],
          JSON_PATCH,
        );
      case "deleteImage":
        return plain("DELETE", `/v2/images/${op.image}`);
      case "listImages":
        return plain("GET", `/v2/images?${queryString(op.query)}`);
      case "addMember":
        return json("POST", members(op.image), op.body);
      case "listMembers":
        return plain("GET", members(op.image));
      case "showMember":
        return plain("GET", one(op.image, op.member));
      case "updateMember":
        // Clients (python-glanceclient) also send the member id; other keys are ignored.
        return json(
          "PUT",
          one(op.image, op.member),
          extra ? { member: op.member, status: op.status } : { status: op.status },
        );
      case "deleteMember":
        return plain("DELETE", one(op.image, op.member));
      case "setExpiry":
        return json("PATCH", one(op.image, op.member), op.body);
      case "bulkShare":
        return json("POST", "/v2/shares", op.body);
      case "listShares": {
        const q = sharesQueryString(op.query);
        return plain("GET", q ? `/v2/shares?${q}` : "/v2/shares");
      }
    }
  }

  describe(op: Op): string {
    const { actor, policy, kind, ...rest } = op;
    const denied = policy.denied?.length ? ` deny=${policy.denied.join(",")}` : "";
    return `${kind} as ${actor.project} [${actor.roles.join(",")}] (${policy.rules}${denied}) ${JSON.stringify(rest)}`;
  }

  /** An abstract operation: a request, or the passing of a membership's expiry. */
  async apply(a: Abstract, extra = false): Promise<void> {
    if (a.kind === "expire") return this.expireNow(a.image, a.member, a.who);
    return this.perform(this.concrete(a), extra);
  }

  /**
   * The membership's expiry passes: SQLite's clock decides expiry, so its `expires_at` is moved
   * into the past in D1, and in the model. A membership that does not exist stays absent.
   */
  async expireNow(ref: ImageRef, target: Target, w: Who): Promise<void> {
    const image = this.created.length > 0 ? this.created[ref.index % this.created.length] : undefined;
    if (image === undefined) return;
    const memberId =
      target === "self" ? (this.projects[w.actor] as string) : (this.members[target] as string);
    const { meta } = await env.DB.prepare(
      "UPDATE image_members SET expires_at = ?3 WHERE image_id = ?1 AND member_id = ?2",
    )
      .bind(image, memberId, EXPIRED_AT)
      .run();
    this.coverage.expirations++;
    this.log.push(`expire ${memberId} of ${image} (${meta.changes} row)`);
    this.world = expire(this.world, image, memberId);
  }

  /** Sends `op`, checks the answer against the model, moves the model on. */
  async perform(op: Op, extra = false): Promise<void> {
    // The model's clock reads what the database's will: now.
    this.world = { ...this.world, clock: stampOf(Date.now()) };
    const s = step(this.world, op);
    const { method, path, ...opts } = this.request(op, extra);
    const res = await call(method, path, {
      ...opts,
      who: op.actor,
      vars: { IMAGE_MEMBER_QUOTA: String(this.world.quota), ...policyVars(op.policy) },
    });
    const text = await res.text();
    this.log.push(`${this.describe(op)} -> ${res.status}`);
    const key = outcome(op.policy.rules, op.kind, s.expected);
    this.coverage.outcomes.set(key, (this.coverage.outcomes.get(key) ?? 0) + 1);
    const problems = checkAnswer(res, text, s.expected);
    if (
      op.kind === "createImage" &&
      res.status === 201 &&
      res.headers.get("Location") !== `${BASE}/v2/images/${op.id}`
    )
      problems.push(`Location ${res.headers.get("Location")}`);
    if (problems.length > 0) {
      throw new Error(
        `${this.describe(op)}\nexpected ${JSON.stringify(s.expected)}\ngot ${res.status} ${text}\n- ${problems.join("\n- ")}\nafter:\n  ${this.log.join("\n  ")}`,
      );
    }
    if (op.kind === "createImage" && res.status === 201) this.created.push(op.id);
    this.world = s.next(text === "" ? null : JSON.parse(text));
  }

  /** After the sequence: every image's full member list and the whole image list, as admin. */
  async audit(): Promise<void> {
    const sent = {
      actor: { project: this.projects[3] as string, roles: ADMIN_ROLES },
      policy: { rules: "secure-rbac" } as Policy,
    };
    for (const image of this.world.images) {
      await this.perform({ ...sent, kind: "listMembers", image: image.id });
    }
    await this.perform({ ...sent, kind: "listImages", query: { tag: this.tag, visibility: "all" } });
    // Every live membership of the run's images that take members, as GET /v2/shares lists it.
    const owners = [...new Set(this.world.images.map((i) => i.owner))];
    for (const owner of owners)
      await this.perform({ ...sent, kind: "listShares", query: { owner, limit: 1000 } });
  }
}

function checkAnswer(res: Response, text: string, expected: Expected): string[] {
  const problems: string[] = [];
  if (res.status !== expected.status) problems.push(`status ${res.status}, expected ${expected.status}`);
  if (!/^req-[A-Za-z0-9-]+$/.test(res.headers.get("x-openstack-request-id") ?? ""))
    problems.push(`x-openstack-request-id ${res.headers.get("x-openstack-request-id")}`);
  if (LEAK.test(text)) problems.push("body leaks internals");
  if (problems.length > 0) return problems;
  if (res.status === 204) {
    if (text !== "") problems.push("204 with a body");
    return problems;
  }
  if (res.headers.get("Content-Type") !== "application/json")
    problems.push(`Content-Type ${res.headers.get("Content-Type")}`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return [...problems, "body is not JSON"];
  }
  const reason = REASONS[expected.status] ?? "?";
  const want =
    "message" in expected
      ? { message: expected.message, code: `${expected.status} ${reason}`, title: reason }
      : expected.body;
  // `differences` matches a RegExp message as a pattern.
  return [...problems, ...differences(body, want)];
}

/** The first three images of a run: one of each visibility its owner (a member) may create. */
async function start(run: Run, visibilities: readonly Visibility[]) {
  const owner: Who = { actor: 0, roles: "member", legacy: false, deny: undefined };
  for (const v of visibilities) {
    const op = run.concrete({ who: owner, kind: "createImage", visibility: v });
    await run.perform({ ...op, policy: { rules: "secure-rbac" } });
  }
}

describe("authorization model: generated operation sequences", () => {
  it("every answer, status and body, is the model's (both rule sets, every role set)", async () => {
    const coverage = new Coverage();
    await fc.assert(
      fc.asyncProperty(
        quota,
        mode,
        fc.array(fc.tuple(abstractOp, fc.boolean()), { minLength: 1, maxLength: 40, size: "max" }),
        async (q, m, ops) => {
          const run = new Run(q, m, coverage);
          // Every run starts with one image of each visibility the owner may create, so the
          // early operations already meet all of them.
          await start(run, ["shared", "private", "community"]);
          for (const [a, extra] of ops) await run.apply(a, extra);
          await run.audit();
        },
      ),
      { numRuns: 200 },
    );
    expect(coverage.missing(REACHES.sequences), coverage.toString()).toEqual([]);
  }, 300_000);

  it("membership-heavy sequences on one image reach every status, the quota and re-adds", async () => {
    const coverage = new Coverage();
    const first = fc.constant<ImageRef>({ index: 0, form: "exact" });
    // The owner (project 0) shares as a member or admin; the members (1, 2) answer as members.
    const sharer = who(
      fc.constantFrom(0, 0, 0, 3),
      fc.constantFrom<RoleSetName>("member", "member", "admin", "reader"),
    );
    const dense: fc.Arbitrary<Abstract> = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({
          who: sharer,
          kind: fc.constant("addMember"),
          image: first,
          member: fc.constantFrom<number | "self">(1, 2, 1, 2, 3, 4, 5, "self"),
          form: fc.constant("member_id" as const),
        }),
      },
      {
        weight: 4,
        arbitrary: fc.record({
          who: who(
            fc.constantFrom(1, 2, 1, 2, 0, 3),
            fc.constantFrom<RoleSetName>("member", "member", "member", "admin", "reader", "none"),
          ),
          kind: fc.constant("updateMember"),
          image: first,
          member: fc.oneof({ weight: 3, arbitrary: fc.constant("self" as const) }, fc.nat({ max: 5 })),
          status: fc.constantFrom<unknown>(...STATUSES, "bogus", "bogus"),
          extra: fc.constant(false),
        }),
      },
      {
        weight: 2,
        arbitrary: fc.record({ who: who(), kind: fc.constant("showMember"), image: first, member }),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          // Mostly the owner; members removing themselves are refused (legacy: code, secure-rbac: rule).
          who: who(fc.constantFrom(0, 0, 0, 1, 2, 3)),
          kind: fc.constant("deleteMember"),
          image: first,
          member: fc.constantFrom<number | "self">(1, 2, 1, 2, 0, 3, 4, 5),
        }),
      },
      { weight: 2, arbitrary: fc.record({ who: who(), kind: fc.constant("listMembers"), image: first }) },
      {
        weight: 2,
        arbitrary: fc.record({
          who: who(),
          kind: fc.constant("listImages"),
          visibility: fc.constant(undefined),
          memberStatus: optional(fc.constantFrom(...STATUSES, "all" as const)),
          limit: fc.constant(undefined),
          marker: fc.constant(undefined),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          who: sharer,
          kind: fc.constant("patchVisibility"),
          image: first,
          visibility: fc.constantFrom<Visibility>("shared", "private", "public", "public", "community"),
        }),
      },
    );
    await fc.assert(
      fc.asyncProperty(
        quota,
        mode,
        fc.array(dense, { minLength: 1, maxLength: 40, size: "max" }),
        async (q, m, ops) => {
          const run = new Run(q, m, coverage);
          await start(run, ["shared"]);
          for (const a of ops) await run.apply(a);
          await run.audit();
        },
      ),
      { numRuns: 250 },
    );
    expect(coverage.missing(REACHES.membership), coverage.toString()).toEqual([]);
  }, 300_000);
});

describe("time and bulk: expiring memberships, bulk shares and share listings (docs/reference.md §12)", () => {
  it("memberships that expire vanish for every purpose; bulk shares are all or nothing; listings are exact", async () => {
    const coverage = new Coverage();
    // A few images, so that memberships, bulk shares across images and the listings meet.
    const few: fc.Arbitrary<ImageRef> = fc.record({
      index: fc.nat({ max: 2 }),
      form: fc.constantFrom(
        "exact",
        "exact",
        "exact",
        "exact",
        "exact",
        "exact",
        "upper",
        "missing",
        "malformed",
      ),
    });
    const sharer = who(
      fc.constantFrom(0, 0, 0, 3),
      fc.constantFrom<RoleSetName>("member", "member", "member", "admin", "reader"),
    );
    // Mostly the two projects every run starts shared with; now and then others.
    const pool = fc.constantFrom<Target>(1, 2, 1, 2, 1, 2, 3, 4, 5, "self");
    // The projects that were shared with, as members, answering and reading.
    const shared = who(
      fc.constantFrom(1, 2, 1, 2, 0, 3),
      fc.constantFrom<RoleSetName>("member", "member", "member", "reader", "admin", "none"),
    );
    const timed: fc.Arbitrary<Abstract> = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({
          who: sharer,
          kind: fc.constant("addMember"),
          image: few,
          member: pool,
          form: fc.constant("member_id" as const),
          expiry,
        }),
      },
      {
        weight: 4,
        arbitrary: fc.record({
          who: fc.oneof({ weight: 3, arbitrary: sharer }, { weight: 1, arbitrary: shared }),
          kind: fc.constant("setExpiry"),
          image: few,
          member: pool,
          // Refused bodies as often as accepted ones: a 400 comes only after the rules and the row.
          body: fc.oneof(
            fc.constantFrom<PatchBody>("hour", "twoHours", "clear"),
            fc.constantFrom<PatchBody>("past", "malformed", "extra", "empty", "array"),
          ),
        }),
      },
      {
        weight: 2,
        arbitrary: fc.record({ who: sharer, kind: fc.constant("expire"), image: few, member: pool }),
      },
      {
        weight: 4,
        arbitrary: fc.record({
          who: sharer,
          kind: fc.constant("bulkShare"),
          images: fc.array(few, { minLength: 1, maxLength: 3 }),
          members: fc.array(pool, { minLength: 1, maxLength: 3 }),
          expiry,
        }),
      },
      {
        weight: 4,
        arbitrary: listSharesOp(fc.oneof(shared, sharer), few),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          who: shared,
          kind: fc.constant("updateMember"),
          image: few,
          member: fc.constantFrom<Target>("self", "self", "self", 1, 2),
          status: fc.constantFrom<unknown>(...STATUSES),
          extra: fc.constant(false),
        }),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          who: shared,
          kind: fc.constantFrom("showMember", "deleteMember"),
          image: few,
          member: fc.constantFrom<Target>("self", 1, 2),
        }),
      },
      {
        weight: 2,
        arbitrary: fc.record({ who: shared, kind: fc.constantFrom("listMembers", "showImage"), image: few }),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          who: shared,
          kind: fc.constant("listImages"),
          visibility: fc.constant(undefined),
          memberStatus: optional(fc.constantFrom(...STATUSES, "all" as const)),
          limit: fc.constant(undefined),
          marker: fc.constant(undefined),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          who: sharer,
          kind: fc.constant("patchVisibility"),
          image: few,
          visibility: fc.constantFrom<Visibility>("shared", "private", "public", "community"),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({ who: sharer, kind: fc.constant("deleteMember"), image: few, member: pool }),
      },
    );
    await fc.assert(
      fc.asyncProperty(
        // Mostly a quota the two projects every run starts with nearly fill: bulk shares meet it.
        fc.constantFrom(2, 3, 3, 128, -1),
        mode,
        fc.array(timed, { minLength: 10, maxLength: 30, size: "max" }),
        async (q, m, ops) => {
          const run = new Run(q, m, coverage);
          // A community image among them, which takes no members (docs/reference.md §4).
          await start(run, ["shared", "private", "community"]);
          // Every run starts with its first two images shared with projects 1 and 2 (one call),
          // project 1's on the first image expiring in an hour.
          const owner: Who = { actor: 0, roles: "member", legacy: false, deny: undefined };
          const secure = { rules: "secure-rbac" } as Policy;
          await run.perform({
            ...run.concrete({
              who: owner,
              kind: "bulkShare",
              images: [0, 1].map((index) => ({ index, form: "exact" as const })),
              members: [1, 2],
              expiry: "none",
            }),
            policy: secure,
          });
          await run.perform({
            ...run.concrete({
              who: owner,
              kind: "setExpiry",
              image: { index: 0, form: "exact" },
              member: 1,
              body: "hour",
            }),
            policy: secure,
          });
          for (const a of ops) await run.apply(a);
          await run.audit();
        },
      ),
      { numRuns: 150 },
    );
    // The time runs must have moved memberships past their expiry.
    expect(coverage.expirations).toBeGreaterThan(50);
    expect(coverage.missing(REACHES.time), coverage.toString()).toEqual([]);
  }, 300_000);
});

describe("authorization model: every role set on one image", () => {
  it("each route of one shared image, by its owner, its members and a stranger, each with any role set", async () => {
    const coverage = new Coverage();
    const first = fc.constant<ImageRef>({ index: 0, form: "exact" });
    // Any project (owner, the two members, a stranger), any role set, equally often; and here,
    // where every route meets every caller, two requests in three with one of the route's own
    // rules denied, so that each refusal only an operator's "!" gives is reached too.
    const anyone = (...rules: Rule[]) =>
      who(
        fc.nat({ max: 3 }),
        fc.constantFrom(...(Object.keys(ROLE_SETS) as RoleSetName[])),
        fc.oneof(
          { weight: 1, arbitrary: fc.constant(undefined) },
          { weight: 2, arbitrary: fc.constantFrom(...rules) },
        ),
      );
    const target = fc.constantFrom<number | "self">(0, 1, 2, "self", "self");
    const op: fc.Arbitrary<Abstract> = fc.oneof(
      fc.record({ who: anyone("get_image"), kind: fc.constant("showImage"), image: first }),
      fc.record({ who: anyone("get_image", "delete_image"), kind: fc.constant("deleteImage"), image: first }),
      fc.record({ who: anyone("get_image", "get_members"), kind: fc.constant("listMembers"), image: first }),
      fc.record({
        who: anyone("get_image", "modify_image", "communitize_image"),
        kind: fc.constant("patchVisibility"),
        image: first,
        visibility,
      }),
      fc.record({
        who: anyone("get_image", "get_member"),
        kind: fc.constant("showMember"),
        image: first,
        member: target,
      }),
      fc.record({
        who: anyone("get_image", "get_member", "delete_member"),
        kind: fc.constant("deleteMember"),
        image: first,
        member: target,
      }),
      fc.record({
        who: anyone("get_image", "get_member", "modify_member"),
        kind: fc.constant("updateMember"),
        image: first,
        member: target,
        status: fc.constantFrom<unknown>("accepted", "rejected", "bogus"),
        extra: fc.constant(false),
      }),
      fc.record({
        who: anyone("get_image", "add_member"),
        kind: fc.constant("addMember"),
        image: first,
        member: fc.constantFrom<number | "self">(1, 2, 3, 4),
        form: fc.constant("member_id" as const),
      }),
      fc.record({
        who: anyone("get_images"),
        kind: fc.constant("listImages"),
        visibility: fc.constant(undefined),
        memberStatus: optional(fc.constantFrom(...STATUSES, "all" as const)),
        limit: fc.constant(undefined),
        marker: fc.constant(undefined),
      }),
    );
    await fc.assert(
      fc.asyncProperty(mode, fc.array(op, { minLength: 1, maxLength: 16 }), async (m, ops) => {
        const run = new Run(128, m, coverage);
        await start(run, ["shared"]);
        // Projects 1 and 2 are members (1 accepted, 2 pending); project 3 is a stranger.
        const owner: Who = { actor: 0, roles: "member", legacy: false, deny: undefined };
        for (const added of [1, 2]) {
          const op = run.concrete({
            who: owner,
            kind: "addMember",
            image: { index: 0, form: "exact" },
            member: added,
            form: "member_id",
          });
          await run.perform({ ...op, policy: { rules: "secure-rbac" } });
        }
        const one: Who = { actor: 1, roles: "member", legacy: false, deny: undefined };
        const accept = run.concrete({
          who: one,
          kind: "updateMember",
          image: { index: 0, form: "exact" },
          member: "self",
          status: "accepted",
          extra: false,
        });
        await run.perform({ ...accept, policy: { rules: "secure-rbac" } });
        for (const a of ops) await run.apply(a);
        await run.audit();
      }),
      { numRuns: 400 },
    );
    expect(coverage.missing(REACHES.roles), coverage.toString()).toEqual([]);
  }, 300_000);
});

describe("the model's comparison itself", () => {
  it("rejects a wrong key order, a wrong value and a malformed timestamp", () => {
    expect(differences({ b: 1, a: 2 }, { a: 2, b: 1 })).not.toEqual([]);
    expect(differences({ a: 1 }, { a: 2 })).not.toEqual([]);
    expect(differences({ t: "2024-01-01 00:00:00" }, { t: new Ts() })).not.toEqual([]);
    expect(differences({ t: "2024-02-30T00:00:00Z" }, { t: new Ts() })).not.toEqual([]);
    expect(differences({ t: "2024-01-01T00:00:00Z" }, { t: new Ts("2024-01-01T00:00:01Z") })).not.toEqual([]);
    expect(
      differences({ t: "2024-01-01T00:00:00Z", u: "x" }, { t: new Ts(), u: new Ts(undefined, "t") }),
    ).not.toEqual([]);
    expect(
      differences(
        { t: "2024-01-01T00:00:00Z", u: "2024-01-01T00:00:00Z" },
        { t: new Ts(), u: new Ts(undefined, "t") },
      ),
    ).toEqual([]);
  });
});
