import { describe, expect, it } from "vitest";
import {
  ADD,
  DELETE,
  DELETE_AFTER_ROW,
  duplicateMember,
  LIST,
  type MemberStep,
  mayReadMember,
  memberNotFound,
  quotaExceeded,
  refusal,
  SET_EXPIRY,
  SHOW,
  seesAllMembers,
  UPDATE,
  UPDATE_AFTER_ROW,
} from "../../src/members/rules";
import { creds, IMAGE, image, MEMBER, OWNER, outcome, policy, type Roles, STRANGER } from "./rule-fixtures";

/**
 * src/members/rules.ts: each member route's checks in Glance's order (docs/reference.md §4, §5, §11), and the
 * answer of the first that fails, for an image, a caller and a rule set, without HTTP or D1.
 * The expected answers are written out here from reference and Glance, not taken from src.
 */

const ask = { image: { raw: IMAGE, id: IMAGE }, member: MEMBER };

const NOT_FOUND = `Image ${IMAGE} not found.`;
const HIDDEN = "The resource could not be found.";
const na = (rule: string) => `You are not authorized to complete ${rule} action.`;
const notAllowed = (action: string) => `Not allowed to ${action} members for image ${IMAGE}.`;

const LISTS: Record<string, readonly MemberStep[]> = {
  ADD,
  LIST,
  SHOW,
  UPDATE,
  UPDATE_AFTER_ROW,
  DELETE,
  DELETE_AFTER_ROW,
  SET_EXPIRY,
};

/** The caller's relation to OWNER's image: its owner, a project holding a membership, or neither. */
type Relation = "owner" | "member" | "stranger";
type Visibility = "public" | "community" | "shared" | "private";
type Expected = null | [number, string];
type Row = [
  list: keyof typeof LISTS,
  rules: "secure-rbac" | "legacy",
  relation: Relation,
  roles: Roles,
  visibility: Visibility,
  expected: Expected,
  denied?: string,
];

// biome-ignore format: a table
const ROWS: Row[] = [
  // POST …/members: visible, takes members, (legacy) owner or admin, get_image, add_member.
  ["ADD", "secure-rbac", "owner", "member", "shared", null],
  ["ADD", "secure-rbac", "owner", "member", "private", null],
  ["ADD", "secure-rbac", "owner", "reader", "shared", [403, na("add_member")]],
  ["ADD", "secure-rbac", "owner", "none", "shared", [404, HIDDEN]],
  ["ADD", "secure-rbac", "owner", "member", "public", [403, notAllowed("create")]],
  ["ADD", "secure-rbac", "owner", "member", "community", [403, notAllowed("create")]],
  ["ADD", "secure-rbac", "stranger", "member", "public", [403, notAllowed("create")]],
  ["ADD", "secure-rbac", "stranger", "member", "shared", [404, NOT_FOUND]],
  ["ADD", "secure-rbac", "stranger", "admin", "shared", null],
  ["ADD", "secure-rbac", "member", "member", "shared", [403, na("add_member")]],
  ["ADD", "secure-rbac", "stranger", "admin", "shared", [404, HIDDEN], "get_image"],
  ["ADD", "legacy", "owner", "none", "shared", null],
  ["ADD", "legacy", "member", "member", "shared", [403, notAllowed("create")]],
  ["ADD", "legacy", "stranger", "member", "shared", [404, NOT_FOUND]],
  ["ADD", "legacy", "owner", "none", "shared", [403, na("add_member")], "add_member"],
  // GET …/members: visible, takes members (403 in its own words), get_image, get_members.
  ["LIST", "secure-rbac", "owner", "reader", "shared", null],
  ["LIST", "secure-rbac", "member", "reader", "shared", null],
  ["LIST", "secure-rbac", "owner", "none", "shared", [404, HIDDEN]],
  ["LIST", "secure-rbac", "stranger", "reader", "shared", [404, NOT_FOUND]],
  ["LIST", "secure-rbac", "stranger", "admin", "private", null],
  ["LIST", "secure-rbac", "stranger", "reader", "public",
    [403, `Not allowed to list members for image ${IMAGE}: Only shared images have members.`]],
  ["LIST", "secure-rbac", "owner", "reader", "shared", [403, na("get_members")], "get_members"],
  ["LIST", "legacy", "member", "none", "shared", null],
  // GET …/members/{m}: not taking members is a 404; a refused get_member is a 404 with its words.
  ["SHOW", "secure-rbac", "member", "reader", "shared", null],
  ["SHOW", "secure-rbac", "owner", "reader", "private", null],
  ["SHOW", "secure-rbac", "member", "none", "shared", [404, HIDDEN]],
  ["SHOW", "secure-rbac", "owner", "member", "community", [404, "Only shared images have members."]],
  ["SHOW", "secure-rbac", "stranger", "member", "shared", [404, NOT_FOUND]],
  ["SHOW", "secure-rbac", "member", "reader", "shared", [404, na("get_member")], "get_member"],
  // PUT …/members/{m}, before the row: (legacy) not the owner, or an admin.
  ["UPDATE", "secure-rbac", "member", "reader", "shared", null],
  ["UPDATE", "secure-rbac", "owner", "member", "shared", null],
  ["UPDATE", "secure-rbac", "member", "none", "shared", [404, HIDDEN]],
  ["UPDATE", "secure-rbac", "owner", "member", "public", [403, notAllowed("update")]],
  ["UPDATE", "secure-rbac", "member", "member", "shared", [403, na("get_member")], "get_member"],
  ["UPDATE", "legacy", "owner", "member", "shared", [403, notAllowed("update")]],
  ["UPDATE", "legacy", "member", "none", "shared", null],
  ["UPDATE", "legacy", "stranger", "admin", "shared", null],
  // …and after it: modify_member is the member's own (or an admin's).
  ["UPDATE_AFTER_ROW", "secure-rbac", "member", "member", "shared", null],
  ["UPDATE_AFTER_ROW", "secure-rbac", "member", "reader", "shared", [403, na("modify_member")]],
  ["UPDATE_AFTER_ROW", "secure-rbac", "owner", "member", "shared", [403, na("modify_member")]],
  ["UPDATE_AFTER_ROW", "secure-rbac", "stranger", "admin", "shared", null],
  ["UPDATE_AFTER_ROW", "legacy", "member", "none", "shared", null],
  // DELETE …/members/{m}, before the row: (legacy) the owner or an admin.
  ["DELETE", "secure-rbac", "member", "member", "shared", null],
  ["DELETE", "secure-rbac", "owner", "member", "community", [403, notAllowed("delete")]],
  ["DELETE", "legacy", "member", "member", "shared", [403, notAllowed("delete")]],
  ["DELETE", "legacy", "owner", "none", "shared", null],
  // …and after it: delete_member is the owner's project member's (or an admin's).
  ["DELETE_AFTER_ROW", "secure-rbac", "owner", "member", "shared", null],
  ["DELETE_AFTER_ROW", "secure-rbac", "owner", "reader", "shared", [403, na("delete_member")]],
  ["DELETE_AFTER_ROW", "secure-rbac", "member", "member", "shared", [403, na("delete_member")]],
  ["DELETE_AFTER_ROW", "secure-rbac", "member", "none", "shared", [404, HIDDEN]],
  // PATCH …/members/{m} (docs/reference.md §12.1): refused as PUT is, with its own rule.
  ["SET_EXPIRY", "secure-rbac", "owner", "member", "shared", null],
  ["SET_EXPIRY", "secure-rbac", "owner", "reader", "shared", [403, na("set_member_expiry")]],
  ["SET_EXPIRY", "secure-rbac", "member", "member", "shared", [403, na("set_member_expiry")]],
  ["SET_EXPIRY", "secure-rbac", "owner", "member", "public", [403, notAllowed("update")]],
  ["SET_EXPIRY", "secure-rbac", "stranger", "admin", "private", null],
  ["SET_EXPIRY", "legacy", "member", "member", "shared", [403, notAllowed("update")]],
  ["SET_EXPIRY", "legacy", "owner", "none", "shared", null],
];

const PROJECT: Record<Relation, string> = { owner: OWNER, member: MEMBER, stranger: STRANGER };

describe("member routes' refusals (src/members/rules.ts)", () => {
  it.each(ROWS)(
    "%s under %s: %s [%s] on a %s image → %j (denied: %s)",
    (list, rules, relation, roles, v, want, denied) => {
      const p = policy(rules, denied ? { [denied]: "!" } : {});
      const c = creds(p, PROJECT[relation], roles);
      const read = image(v, { callerIsMember: relation === "member" });
      expect(outcome(refusal(p, c, LISTS[list] as readonly MemberStep[], read, ask))).toEqual(want);
    },
  );
});

describe("which member rows a caller sees", () => {
  const p = policy("secure-rbac");
  // biome-ignore format: a table
  const cases: [Relation, Roles, all: boolean, own: boolean, another: boolean][] = [
    ["owner",    "member", true,  true,  true],
    ["owner",    "none",   true,  true,  true],
    ["stranger", "admin",  true,  true,  true],
    ["member",   "member", false, true,  false],
    ["stranger", "member", false, true,  false],
  ];
  it.each(cases)("%s [%s]: every row %s, its own %s, another's %s", (relation, roles, all, own, another) => {
    const c = creds(p, PROJECT[relation], roles);
    const read = image("shared", { callerIsMember: relation === "member" });
    expect(seesAllMembers(c, read)).toBe(all);
    expect(mayReadMember(c, read, PROJECT[relation])).toBe(own);
    expect(mayReadMember(c, read, "another-p")).toBe(another);
  });
});

describe("the members routes' own errors, in Glance's words", () => {
  it.each([
    [memberNotFound(ask), 404, `${MEMBER} not found in the member list of the image ${IMAGE}.`],
    [duplicateMember(ask, "dup"), 409, `Member dup is duplicated for image ${IMAGE}`],
    [
      quotaExceeded(ask, 4, 3),
      413,
      `Image member limit exceeded for image ${IMAGE}: The limit has been exceeded on the number of allowed image members for this image. Attempted: 4, Maximum: 3`,
    ],
  ] as const)("%#: %i", (error, status, message) => {
    expect(outcome(error)).toEqual([status, message]);
  });

  it("names the image as the client wrote it", () => {
    const upper = { image: { raw: IMAGE.toUpperCase(), id: IMAGE }, member: MEMBER };
    const c = creds(policy("secure-rbac"), STRANGER, "member");
    expect(outcome(refusal(policy("secure-rbac"), c, ADD, image("shared"), upper))).toEqual([
      404,
      `Image ${IMAGE.toUpperCase()} not found.`,
    ]);
  });
});
