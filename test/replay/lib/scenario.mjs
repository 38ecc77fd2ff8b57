// What the replay sends: the callers, the image fixtures and the matrix of cases. Pure data and
// small builders; run.mjs executes them against both services.
import { createHash } from "node:crypto";

/** Keystone expands implied roles (admin ⇒ member ⇒ reader) into the token: sent expanded. */
const ADMIN = ["admin", "member", "reader"];
const MEMBER = ["member", "reader"];
const READER = ["reader"];

export const A = "proj-a"; // owns every fixture
export const B = "proj-b"; // member of A's shared images (pending / accepted / rejected)
export const C = "proj-c"; // a stranger
export const D = "proj-d"; // admin's project
export const E = "proj-e"; // another member of A's shared images ("other's row" for B)
export const F = "proj-f"; // added by the member-add cases
export const Z = "proj-z"; // "another project" for owner=…

const caller = (name, project, roles) => ({ name, project, roles, user: `user-${name.toLowerCase()}` });

/** The matrix's callers. */
export const CALLERS = [
  caller("A_admin", A, ADMIN),
  caller("A_member", A, MEMBER),
  caller("A_reader", A, READER),
  caller("A_none", A, []),
  caller("B_member", B, MEMBER),
  caller("B_reader", B, READER),
  caller("B_none", B, []),
  caller("C_member", C, MEMBER),
  caller("C_reader", C, READER),
  caller("D_admin", D, ADMIN),
];
/** Helpers of the set-up only (never a matrix caller). */
export const SETUP = {
  owner: caller("A_member", A, MEMBER),
  ownerAdmin: caller("A_admin", A, ADMIN),
  b: caller("B_member", B, MEMBER),
};

export function identityHeaders(c) {
  const h = {
    "X-Identity-Status": "Confirmed",
    "X-Project-Id": c.project,
    "X-User-Id": c.user,
    "X-Project-Domain-Id": "default",
    "X-User-Domain-Id": "default",
  };
  // "No roles" is no X-Roles header at all (both sides then see an empty role list).
  if (c.roles.length > 0) h["X-Roles"] = c.roles.join(",");
  return h;
}

/**
 * Image fixtures, all owned by project A. `b`: B's membership status (none = B is a stranger);
 * `e`: E is a pending member too (so that B has an "other's row" to ask about). `shared-bare` is
 * the shared twin of `private` (no members at all): docs/reference.md §10.2 says glance-edge answers on a
 * private image what Glance answers on a shared one, and the allow-list checks exactly that.
 */
export const FIXTURES = {
  "shared-bare": { visibility: "shared", b: null, e: false },
  "shared-pending": { visibility: "shared", b: "pending", e: true },
  "shared-accepted": { visibility: "shared", b: "accepted", e: true },
  "shared-rejected": { visibility: "shared", b: "rejected", e: true },
  private: { visibility: "private", b: null, e: false },
  public: { visibility: "public", b: null, e: false },
  community: { visibility: "community", b: null, e: false },
  // Hybrids: private on glance-edge, shared on Glance, with the same memberships. Glance 25 cannot
  // hold members of a private image; docs/reference.md §10.2/§11 say a member of a private image is a member
  // for every rule, so glance-edge must answer here what Glance answers for the shared image
  // (apart from the image's own `visibility`). Created after the image lists, which they would skew.
  "private-pending": { visibility: "private", glanceVisibility: "shared", b: "pending", e: true },
  "private-accepted": { visibility: "private", glanceVisibility: "shared", b: "accepted", e: true },
  "private-rejected": { visibility: "private", glanceVisibility: "shared", b: "rejected", e: true },
};
export const PRIVATE_TWIN = "shared-bare";
export const isHybrid = (fixture) => Boolean(FIXTURES[fixture]?.glanceVisibility);

/** Image states a fixture is prepared in: with data (active), without (queued), deactivated. */
export const VARIANTS = ["active", "queued", "deactivated"];

/** Deterministic ids (UUID-shaped, version 4 bits), so that both sides hold the same images. */
export function uuidFor(name) {
  const h = createHash("sha256").update(`glance-edge-replay:${name}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Half the requests ask for JSON errors, half send no Accept (docs/reference.md §2's two error forms). */
export function acceptFor(caseName) {
  const h = createHash("sha256").update(caseName).digest();
  return h[0] % 2 === 0 ? "application/json" : null;
}

export const JSON_TYPE = "application/json";
export const PATCH_TYPE = "application/openstack-images-v2.1-json-patch";
export const OCTET = "application/octet-stream";

export const imageData = (name) => Buffer.from(`glance-edge replay data for ${name}\n`);

/** The body of POST /v2/images for a fixture (or any image this replay creates). */
export function imageBody(id, name, visibility, extra = {}) {
  const body = { id, name, disk_format: "raw", container_format: "bare", tags: ["t1"], ...extra };
  if (visibility) body.visibility = visibility;
  return body;
}

// ---- the matrix ------------------------------------------------------------------------------------
// A case names an operation on a fixture (or none), for one caller. `path(img)` builds the path
// from the image id; `write` cases run on a clean image of their fixture/variant and spend it when
// either side answers 2xx (so a destructive call never changes what a later case sees).

const member = (img, m) => `/v2/images/${img}/members/${m}`;

/** Read-only operations on the active image of each fixture. */
export function readOps(c) {
  const ops = [
    { op: "image.show", method: "GET", path: (i) => `/v2/images/${i}` },
    { op: "image.download", method: "GET", path: (i) => `/v2/images/${i}/file` },
    { op: "members.list", method: "GET", path: (i) => `/v2/images/${i}/members` },
    { op: "members.show-own", method: "GET", path: (i) => member(i, c.project) },
  ];
  if (c.project !== B) ops.push({ op: "members.show-b", method: "GET", path: (i) => member(i, B) });
  ops.push({ op: "members.show-e", method: "GET", path: (i) => member(i, E) });
  return ops;
}

/** Read-only operations on the deactivated image of each fixture. */
export const deactivatedReadOps = [
  { op: "image.download-deactivated", method: "GET", path: (i) => `/v2/images/${i}/file` },
  { op: "image.show-deactivated", method: "GET", path: (i) => `/v2/images/${i}` },
];

/**
 * Writes, each on a clean image of its fixture in the given variant. Only what needs data (delete,
 * deactivate) or a state (upload: queued, reactivate: deactivated) asks for one; the rest run on
 * queued images, which spares an upload per spent image (image data does not enter their answers).
 */
export function writeOps(fixture) {
  const bTarget = fixture.b === "accepted" ? "rejected" : "accepted";
  return [
    {
      op: "image.patch-name",
      variant: "queued",
      method: "PATCH",
      type: PATCH_TYPE,
      body: [{ op: "replace", path: "/name", value: "renamed-by-replay" }],
    },
    {
      op: "image.patch-add-property",
      variant: "queued",
      method: "PATCH",
      type: PATCH_TYPE,
      body: [{ op: "add", path: "/replay_note", value: "hello" }],
    },
    { op: "image.delete", variant: "active", method: "DELETE" },
    { op: "image.upload", variant: "queued", method: "PUT", sub: "/file", type: OCTET, data: true },
    { op: "image.deactivate", variant: "active", method: "POST", sub: "/actions/deactivate" },
    { op: "image.reactivate", variant: "deactivated", method: "POST", sub: "/actions/reactivate" },
    { op: "image.tag-add", variant: "queued", method: "PUT", sub: "/tags/t2" },
    { op: "image.tag-delete", variant: "queued", method: "DELETE", sub: "/tags/t1" },
    {
      op: "members.add",
      variant: "queued",
      method: "POST",
      sub: "/members",
      type: JSON_TYPE,
      body: { member: F },
    },
    {
      op: `members.update-b-${bTarget}`,
      variant: "queued",
      method: "PUT",
      sub: `/members/${B}`,
      type: JSON_TYPE,
      body: { status: bTarget },
    },
    {
      op: "members.update-e-rejected",
      variant: "queued",
      method: "PUT",
      sub: `/members/${E}`,
      type: JSON_TYPE,
      body: { status: "rejected" },
    },
    { op: "members.delete-b", variant: "queued", method: "DELETE", sub: `/members/${B}` },
    { op: "members.delete-e", variant: "queued", method: "DELETE", sub: `/members/${E}` },
  ];
}

/** GET /v2/images queries, per caller (run right after the fixtures exist, before any write). */
export const LIST_QUERIES = [
  "",
  "?member_status=pending",
  "?member_status=accepted",
  "?member_status=rejected",
  "?member_status=all",
  "?visibility=shared",
  "?visibility=private",
  "?visibility=public",
  "?visibility=community",
  "?visibility=all",
  "?visibility=shared&member_status=all",
  "?visibility=shared&member_status=pending",
];

/** POST /v2/images variants, per caller. */
export const CREATE_VARIANTS = [
  { op: "images.create-default", extra: {} },
  { op: "images.create-shared", extra: { visibility: "shared" } },
  { op: "images.create-private", extra: { visibility: "private" } },
  { op: "images.create-public", extra: { visibility: "public" } },
  { op: "images.create-community", extra: { visibility: "community" } },
  { op: "images.create-owner-other", extra: { owner: Z } },
];
