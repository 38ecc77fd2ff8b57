import { describe, expect, it } from "vitest";
import { Params } from "../../src/db/sql";
import { ApiError } from "../../src/http/errors";
import { firstRefusal, guardSql, refusal, type Step } from "../../src/policy/steps";
import { creds, image, OWNER, outcome, policy, STRANGER } from "./rule-fixtures";

/**
 * src/policy/steps.ts: a route's checks as data. The first failing step answers; legacy-only
 * steps count only under `legacy`; a step hidden unless get_image answers the bare 404 to a
 * caller who may not see the image; and the same steps as one SQL guard.
 */

const fail = (text: string) => () => new ApiError(403, text);
const hidden = () => new ApiError(404, "hidden");
const target = { project_id: OWNER, owner: OWNER, visibility: "shared" };

describe("firstRefusal", () => {
  const deny: Step<null> = { rule: "deny_all", fail: fail("denied") };
  const allow: Step<null> = { rule: "allow_all", fail: fail("never") };
  const legacyDeny: Step<null> = { ...deny, legacyOnly: true, fail: fail("legacy denied") };
  const hiddenDeny: Step<null> = { ...deny, hiddenUnlessGetImage: true, fail: fail("hidden denied") };
  const rules = { deny_all: "!", allow_all: "@" };

  // biome-ignore format: a table
  const cases: [string, "secure-rbac" | "legacy", string, Step<null>[], null | [number, string]][] = [
    ["no steps", "secure-rbac", "member", [], null],
    ["all pass", "secure-rbac", "member", [allow, allow], null],
    ["the first failing step answers", "secure-rbac", "member", [allow, deny, legacyDeny], [403, "denied"]],
    ["in order", "legacy", "member", [legacyDeny, deny], [403, "legacy denied"]],
    ["a legacy-only step is skipped under secure-rbac", "secure-rbac", "member", [legacyDeny, allow], null],
    ["…and counts under legacy", "legacy", "member", [allow, legacyDeny], [403, "legacy denied"]],
    ["a hidden step answers its own error to who may get_image", "secure-rbac", "member", [hiddenDeny], [403, "hidden denied"]],
    ["…and the bare 404 to who may not", "secure-rbac", "none", [hiddenDeny], [404, "hidden"]],
  ];
  it.each(cases)("%s", (_, rules_, roles, steps, want) => {
    const p = policy(rules_, rules);
    const c = creds(p, OWNER, roles as "member" | "none");
    expect(outcome(firstRefusal(p, c, steps, target, null, hidden))).toEqual(want);
  });

  it("refusal reads the image as Glance's ImageTarget: member_id only for a member that is not the owner", () => {
    const p = policy("secure-rbac", { member_only: "project_id:%(member_id)s" });
    const step: Step<null> = { rule: "member_only", fail: fail("not a member") };
    const asMember = creds(p, STRANGER, "member");
    expect(
      outcome(refusal(p, asMember, [step], image("shared", { callerIsMember: true }), null, hidden)),
    ).toBeNull();
    expect(outcome(refusal(p, asMember, [step], image("shared"), null, hidden))).toEqual([
      403,
      "not a member",
    ]);
    const asOwner = creds(p, OWNER, "member");
    expect(
      outcome(refusal(p, asOwner, [step], image("shared", { callerIsMember: true }), null, hidden)),
    ).toEqual([403, "not a member"]);
  });
});

describe("guardSql", () => {
  const param = (v: unknown) => `<${String(v)}>`;

  it("no step: no condition", () => {
    const p = policy("secure-rbac");
    expect(guardSql(p, creds(p, OWNER, "member"), [], param)).toBe("1");
  });

  it("one condition per distinct check, legacy-only ones only under legacy", () => {
    const rules = { a: "project_id:%(owner)s", b: "project_id:%(owner)s", c: "'shared':%(visibility)s" };
    const steps: Step<null>[] = [
      { rule: "a", fail: fail("a") },
      { rule: "b", fail: fail("b") },
      { rule: "c", legacyOnly: true, fail: fail("c") },
    ];
    const secure = policy("secure-rbac", rules);
    const legacy = policy("legacy", rules);
    const s = guardSql(secure, creds(secure, OWNER, "member"), steps, param);
    const l = guardSql(legacy, creds(legacy, OWNER, "member"), steps, param);
    expect(s.split(" AND ")).toHaveLength(1);
    expect(s).toContain(`<${OWNER}>`);
    expect(l.split(" AND ")).toHaveLength(2);
    expect(l.startsWith(s)).toBe(true);
  });

  it("reduced once per caller, numbered per statement: the same guard with each statement's placeholders", () => {
    const rules = {
      owner: "project_id:%(owner)s",
      either: "project_id:%(owner)s or 'public':%(visibility)s",
    };
    const p = policy("secure-rbac", rules);
    const steps: Step<null>[] = [
      { rule: "owner", fail: fail("owner") },
      { rule: "either", fail: fail("either") },
    ];
    const owner = creds(p, OWNER, "member");
    // A statement whose own values took ?1 and ?2, then one with none: the same caller's guard
    // names its values after those of each statement, and binds each once.
    const first = new Params("image", "member");
    const a = guardSql(p, owner, steps, first.param);
    const second = new Params();
    const b = guardSql(p, owner, [...steps], second.param);
    expect(first.values.slice(2)).toEqual(second.values);
    expect(new Set(second.values).size).toBe(second.values.length);
    expect(second.values).toContain(OWNER);
    expect(a.replace(/\?(\d+)/g, (_, n: string) => `?${Number(n) - 2}`)).toBe(b);
    // Another caller's guard is its own, not the first caller's.
    const stranger = new Params();
    guardSql(p, creds(p, STRANGER, "member"), steps, stranger.param);
    expect(stranger.values).toContain(STRANGER);
    expect(stranger.values).not.toContain(OWNER);
    // And what it renders is what the rules say, for each.
    expect(guardSql(p, owner, steps, param)).toBe(guardSql(p, { ...owner }, steps, param));
    expect(guardSql(p, owner, steps, param)).toContain(`<${OWNER}>`);
  });

  it("a rule decided by the credentials alone is a constant", () => {
    const p = policy("secure-rbac", { yes: "role:member", no: "role:admin" });
    const c = creds(p, OWNER, "member");
    expect(guardSql(p, c, [{ rule: "yes", fail: fail("yes") }], param)).toBe("1");
    expect(guardSql(p, c, [{ rule: "no", fail: fail("no") }], param)).toBe("0");
  });
});
