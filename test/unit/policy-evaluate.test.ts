/**
 * Conformance of evaluate.ts with oslo.policy's checks: each `describe` is a test class of
 * oslo_policy/tests/test_checks.py or test_policy.py, each `it` names the test it mirrors (the
 * credentials are the same bare dicts). Where oslo.policy observes calls with mocks, the analog
 * here is an operand that would raise if evaluated (`bad:%`, a lone `%`): short-circuiting shows as
 * no error. Expectations beyond oslo.policy's own tests were produced by running oslo.policy's
 * `_checks` on the same input; Glance's check strings are from glance/policies/base.py.
 */
import { describe, expect, it } from "vitest";
import type { Check, Credentials, Rules, Target } from "../../src/policy/check";
import {
  type EvaluateOptions,
  evaluate,
  explain,
  ruleCycles,
  undefinedRuleRefs,
} from "../../src/policy/evaluate";
import { parseCheck } from "../../src/policy/parse";

/** oslo.policy's tests pass plain dicts as credentials; so do these. */
const bare = (d: Record<string, unknown>): Credentials => d as unknown as Credentials;
const rulesOf = (r: Record<string, string>): Rules =>
  new Map(Object.entries(r).map(([k, v]) => [k, parseCheck(v)]));
const NONE: Rules = new Map();

function ev(
  text: string,
  target: Target,
  creds: Credentials,
  rules: Rules = NONE,
  options?: EvaluateOptions,
): boolean {
  return evaluate(parseCheck(text), target, creds, rules, options);
}

function why(
  text: string,
  target: Target,
  creds: Credentials,
  rules: Rules = NONE,
  options?: EvaluateOptions,
) {
  return explain(parseCheck(text), target, creds, rules, options);
}

describe("RuleCheckTestCase", () => {
  it("test_rule_missing", () => {
    expect(ev("rule:spam", {}, bare({}), rulesOf({}))).toBe(false);
  });

  it("test_rule_false", () => {
    expect(ev("rule:spam", {}, bare({}), rulesOf({ spam: "!" }))).toBe(false);
  });

  it("test_rule_true", () => {
    expect(ev("rule:spam", {}, bare({}), rulesOf({ spam: "@" }))).toBe(true);
  });
});

describe("RoleCheckTestCase", () => {
  it("test_accept: case-insensitive", () => {
    expect(ev("role:sPaM", {}, bare({ roles: ["SpAm"] }))).toBe(true);
  });

  it("test_reject", () => {
    expect(ev("role:spam", {}, bare({ roles: [] }))).toBe(false);
  });

  it("test_format_value", () => {
    const creds = bare({ user: "user", roles: ["a", "b", "c"] });
    expect(ev("role:%(target.role.name)s", { "target.role.name": "a" }, creds)).toBe(true);
    expect(ev("role:%(target.role.name)s", { "target.role.name": "d" }, creds)).toBe(false);
    // The key is taken whole, not as a path: a nested dict does not provide it (KeyError).
    expect(ev("role:%(target.role.name)s", { target: { role: {} } }, creds)).toBe(false);
  });

  it("test_no_roles_case", () => {
    expect(ev("role:spam", {}, bare({}))).toBe(false);
  });
});

describe("GenericCheckTestCase", () => {
  it("test_no_cred", () => {
    expect(ev("name:%(name)s", { name: "spam" }, bare({}))).toBe(false);
  });

  it("test_cred_mismatch", () => {
    expect(ev("name:%(name)s", { name: "spam" }, bare({ name: "ham" }))).toBe(false);
  });

  it("test_accept", () => {
    expect(ev("name:%(name)s", { name: "spam" }, bare({ name: "spam" }))).toBe(true);
  });

  it("test_no_key_match_in_target", () => {
    expect(ev("name:%(name)s", { name1: "spam" }, bare({ name: "spam" }))).toBe(false);
  });

  it("test_constant_string_mismatch", () => {
    expect(ev("'spam':%(name)s", { name: "ham" }, bare({}))).toBe(false);
  });

  it("test_constant_string_accept", () => {
    expect(ev("'spam':%(name)s", { name: "spam" }, bare({}))).toBe(true);
  });

  it("test_constant_literal_mismatch", () => {
    expect(ev("True:%(enabled)s", { enabled: false }, bare({}))).toBe(false);
  });

  it("test_constant_literal_accept", () => {
    expect(ev("True:%(enabled)s", { enabled: true }, bare({}))).toBe(true);
  });

  it("test_deep_credentials_dictionary_lookup", () => {
    expect(ev("a.b.c.d:APPLES", {}, bare({ a: { b: { c: { d: "APPLES" } } } }))).toBe(true);
  });

  it("test_missing_credentials_dictionary_lookup", () => {
    const credentials = bare({ a: "APPLES", o: { t: "ORANGES" } });
    expect(ev("o.t:ORANGES", {}, credentials)).toBe(true);
    expect(ev("o.v:ORANGES", {}, credentials)).toBe(false);
    expect(ev("q.v:APPLES", {}, credentials)).toBe(false);
  });

  it("test_single_entry_in_list_accepted", () => {
    expect(ev("a.b.c.d:APPLES", {}, bare({ a: { b: { c: { d: ["APPLES"] } } } }))).toBe(true);
  });

  it("test_multiple_entry_in_list_accepted", () => {
    expect(ev("a.b.c.d:APPLES", {}, bare({ a: { b: { c: { d: ["Bananas", "APPLES", "Grapes"] } } } }))).toBe(
      true,
    );
  });

  it("test_multiple_entry_in_nested_list_accepted", () => {
    const credentials = bare({ a: { b: [{ c: { d: ["BANANAS", "APPLES", "GRAPES"] } }, {}] } });
    expect(ev("a.b.c.d:APPLES", {}, credentials)).toBe(true);
  });

  // A trimmed PROJECT_SCOPED_TOKEN_FIXTURE (oslo_policy/tests/token_fixture.py).
  const REGION_ONE_PUBLIC_KEYSTONE_ENDPOINT_ID = "8cd4b957090f4ca5842a22e9a74099cd";
  const TOKEN = bare({
    token: {
      methods: ["password"],
      roles: [
        { id: "f03fda8f8a3249b2a70fb1f176a7b631", name: "role1" },
        { id: "f03fda8f8a3249b2a70fb1f176a7b631", name: "role2" },
      ],
      project: { id: "tenant_id1", domain: { id: "domain_id1", name: "domain_name1" }, enabled: true },
      catalog: [
        {
          endpoints: [
            { id: "3b5e554bcf114f2483e8a1be7a0506d1", interface: "admin", region: "regionOne" },
            { id: "70a7efa4b1b941968357cc43ae1419ee", interface: "public", region: "regionOne" },
          ],
          id: "5707c3fc0a294703a3c638e9cf6a6c3a",
          type: "volume",
        },
        {
          endpoints: [
            { id: "a4501e141a4b4e14bf282e7bffd81dc5", interface: "admin", region: "RegionOne" },
            { id: REGION_ONE_PUBLIC_KEYSTONE_ENDPOINT_ID, interface: "public", region: "RegionOne" },
          ],
          id: "c5d926d566424e4fba4f80c37916cde5",
          type: "identity",
        },
      ],
      user: { domain: { id: "domain_id1", name: "domain_name1" }, id: "user_id1", name: "user_name1" },
    },
  });

  it("test_multiple_entries_one_matches", () => {
    expect(ev(`token.catalog.endpoints.id:${REGION_ONE_PUBLIC_KEYSTONE_ENDPOINT_ID}`, {}, TOKEN)).toBe(true);
  });

  it("test_generic_role_check_matches", () => {
    expect(ev("token.roles.name:role1", {}, TOKEN)).toBe(true);
  });

  it("test_generic_missing_role_does_not_matches", () => {
    expect(ev("token.roles.name:missing", {}, TOKEN)).toBe(false);
  });

  it("test_multiple_nested_lists_accepted", () => {
    const credentials = bare({ a: { b: [{ a: "" }, { c: { d: ["BANANAS", "APPLES", "GRAPES"] } }, {}] } });
    expect(ev("a.b.c.d:APPLES", {}, credentials)).toBe(true);
  });

  it("test_entry_not_in_list_rejected", () => {
    expect(ev("a.b.c.d:APPLES", {}, bare({ a: { b: { c: { d: ["PEACHES", "PEARS"] } } } }))).toBe(false);
  });
});

describe("FalseCheckTestCase / TrueCheckTestCase / NotCheckTestCase", () => {
  it("FalseCheckTestCase.test_call", () => {
    expect(ev("!", {}, bare({}))).toBe(false);
  });

  it("TrueCheckTestCase.test_call", () => {
    expect(ev("@", {}, bare({}))).toBe(true);
  });

  it("NotCheckTestCase.test_call_true", () => {
    expect(ev("not @", {}, bare({}))).toBe(false);
  });

  it("NotCheckTestCase.test_call_false", () => {
    expect(ev("not !", {}, bare({}))).toBe(true);
  });

  it("unparseable strings deny (and so does their negation's operand)", () => {
    expect(ev("foobar", {}, bare({}))).toBe(false);
    expect(ev("@ and", {}, bare({}))).toBe(false);
    expect(ev("'quoted'", {}, bare({}))).toBe(false);
    expect(ev("http://pdp.example/allow", {}, bare({}))).toBe(false);
    expect(ev("", {}, bare({}))).toBe(true);
  });
});

describe("AndCheckTestCase (first false operand decides; later ones are not evaluated)", () => {
  it("test_call_all_false", () => {
    expect(why("role:x and bad:%", {}, bare({ roles: [] }))).toEqual({ allowed: false, decidedBy: "role:x" });
  });

  it("test_call_first_true", () => {
    expect(why("@ and role:x", {}, bare({ roles: [] }))).toEqual({ allowed: false, decidedBy: "role:x" });
  });

  it("test_call_second_true", () => {
    expect(why("role:x and bad:%", {}, bare({ roles: ["y"] }))).toEqual({
      allowed: false,
      decidedBy: "role:x",
    });
  });

  it("all true: decided by all operands (through their own deciders)", () => {
    expect(why("@ and role:y", {}, bare({ roles: ["y"] }))).toEqual({
      allowed: true,
      decidedBy: "(@ and role:y)",
    });
    expect(why("role:y and (role:a or role:y)", {}, bare({ roles: ["y"] }))).toEqual({
      allowed: true,
      decidedBy: "(role:y and role:y)",
    });
  });
});

describe("OrCheckTestCase (first true operand decides; later ones are not evaluated)", () => {
  it("test_call_all_false", () => {
    expect(why("role:a or role:b", {}, bare({ roles: [] }))).toEqual({
      allowed: false,
      decidedBy: "(role:a or role:b)",
    });
  });

  it("test_call_first_true", () => {
    expect(why("@ or bad:%", {}, bare({}))).toEqual({ allowed: true, decidedBy: "@" });
  });

  it("test_call_second_true", () => {
    expect(why("role:a or role:b", {}, bare({ roles: ["B"] }))).toEqual({
      allowed: true,
      decidedBy: "role:b",
    });
  });
});

describe("RulesTestCase (Rules.__missing__ and the default rule)", () => {
  const rules = rulesOf({ a: "!", b: "@", c: "!" });

  it("test_no_default", () => {
    expect(ev("rule:d", {}, bare({}), rules)).toBe(false);
  });

  it("test_missing_default", () => {
    expect(ev("rule:d", {}, bare({}), rulesOf({ a: "!", c: "@" }), { defaultRule: "b" })).toBe(false);
  });

  it("test_with_default: rules['d'] is rules['b']", () => {
    expect(ev("rule:d", {}, bare({}), rules, { defaultRule: "b" })).toBe(true);
    expect(why("rule:d", {}, bare({}), rules, { defaultRule: "b" })).toEqual({
      allowed: true,
      decidedBy: 'rule:d (undefined; default rule "b") → @',
    });
  });

  it("test_retrieval: defined rules are used as they are", () => {
    expect(ev("rule:a", {}, bare({}), rules, { defaultRule: "b" })).toBe(false);
  });

  it("Glance's 'default' rule is '' (allow): an undefined rule reference then allows", () => {
    const glance = rulesOf({ default: "", context_is_admin: "role:admin" });
    expect(ev("rule:no_such_rule", {}, bare({ roles: [] }), glance, { defaultRule: "default" })).toBe(true);
    expect(ev("rule:no_such_rule", {}, bare({ roles: [] }), glance)).toBe(false);
  });
});

describe("EnforcerCheckRulesTest (ruleCycles, undefinedRuleRefs)", () => {
  it("test_no_violations", () => {
    const rules = rulesOf({ default: "rule:admin", admin: "is_admin:True" });
    expect(ruleCycles(rules)).toEqual([]);
    expect(undefinedRuleRefs(rules)).toEqual([]);
    expect(ev("rule:default", {}, bare({ is_admin: true }), rules)).toBe(true);
    expect(ev("rule:default", {}, bare({ is_admin: false }), rules)).toBe(false);
  });

  it("test_undefined_rule", () => {
    const rules = rulesOf({ foo: "rule:bar" });
    expect(undefinedRuleRefs(rules)).toEqual([{ rule: "foo", missing: "bar" }]);
    expect(ruleCycles(rules)).toEqual([]);
  });

  it("test_cyclical_rules: reported, and evaluation denies instead of recursing forever", () => {
    const rules = rulesOf({ foo: "rule:bar", bar: "rule:foo" });
    expect(ruleCycles(rules)).toEqual([["foo", "bar"]]);
    expect(undefinedRuleRefs(rules)).toEqual([]);
    expect(ev("rule:foo", {}, bare({}), rules)).toBe(false);
    // Python raises RecursionError, so not even `not` turns it into an allow.
    expect(ev("not rule:foo", {}, bare({}), rules)).toBe(false);
    expect(why("rule:foo", {}, bare({}), rules)).toEqual({
      allowed: false,
      decidedBy: "rule:foo → rule:bar → rule:foo (error: rule cycle foo → bar → foo)",
    });
  });

  it("test_complex_cyclical_rules_false", () => {
    const rules = rulesOf({ foo: "rule:bar", bar: "rule:baz and role:admin", baz: "rule:foo or role:user" });
    expect(ruleCycles(rules)).toEqual([["foo", "bar", "baz"]]);
    expect(ev("rule:foo", {}, bare({ roles: ["admin", "user"] }), rules)).toBe(false);
    expect(ev("rule:baz", {}, bare({ roles: ["user"] }), rules)).toBe(false);
  });

  it("test_complex_cyclical_rules_true: one rule reached twice is not a cycle", () => {
    const rules = rulesOf({ foo: "rule:bar or rule:baz", bar: "role:admin", baz: "rule:bar or role:user" });
    expect(ruleCycles(rules)).toEqual([]);
    expect(ev("rule:foo", {}, bare({ roles: ["user"] }), rules)).toBe(true);
    expect(ev("rule:foo", {}, bare({ roles: [] }), rules)).toBe(false);
  });

  it("self references, several cycles, references under not, and the default rule", () => {
    expect(ruleCycles(rulesOf({ a: "rule:a" }))).toEqual([["a"]]);
    expect(ruleCycles(rulesOf({ a: "rule:b or rule:c", b: "rule:a", c: "not rule:a" }))).toEqual([
      ["a", "b"],
      ["a", "c"],
    ]);
    expect(undefinedRuleRefs(rulesOf({ a: "not rule:x and rule:y or rule:x", b: "@" }))).toEqual([
      { rule: "a", missing: "x" },
      { rule: "a", missing: "y" },
    ]);
    const loop = rulesOf({ default: "rule:missing", a: "rule:nope" });
    expect(ruleCycles(loop)).toEqual([]);
    expect(ruleCycles(loop, { defaultRule: "default" })).toEqual([["default"]]);
    expect(ev("rule:a", {}, bare({}), loop, { defaultRule: "default" })).toBe(false);
    expect(ev("not rule:a", {}, bare({}), loop, { defaultRule: "default" })).toBe(false);
  });
});

describe("left side as a Python literal (ast.literal_eval) compared with str()", () => {
  const cases: [string, unknown, boolean][] = [
    ['"spam"', "spam", true],
    ["'a\\x41\\u00e9'", "aAé", true],
    ["'it\\'s'", "it's", true],
    ["r'a\\n'", "a\\n", true],
    ["'a''b'", "ab", true],
    ["b'x'", "b'x'", true],
    ["True", "True", true],
    ["False", false, true],
    ["None", null, true],
    ["None", "None", true],
    ["12", 12, true],
    ["12", "12", true],
    ["0x0c", 12, true],
    ["1_2", 12, true],
    ["-1", -1, true],
    ["+1", "1", true],
    ["1.5", 1.5, true],
    ["1.0", "1.0", true],
    ["1e16", "1e+16", true],
    ["1e-5", 0.00001, true],
    ["-0.0", "-0.0", true],
    ["2j", "2j", true],
    ["1+2j", "(1+2j)", true],
    ["-2j", "(-0-2j)", true],
    ["1,'a'", "(1, 'a')", true],
    ["[None,True]", "[None, True]", true],
    ["...", "Ellipsis", true],
    ["12", 13, false],
    ["True", true, true],
    ["True", "true", false],
  ];
  it.each(cases)("%s vs %j → %s", (left, value, expected) => {
    expect(ev(`${left}:%(v)s`, { v: value }, bare({}))).toBe(expected);
  });

  it("not a literal (ValueError): a dotted credential path", () => {
    expect(ev("true:x", {}, bare({ true: "x" }))).toBe(true);
    expect(ev("a-b:x", {}, bare({ "a-b": "x" }))).toBe(true);
    expect(ev("True.x:y", {}, bare({ True: { x: "y" } }))).toBe(true);
    expect(ev("not nokey:x", {}, bare({}))).toBe(true);
  });

  it("not Python at all (SyntaxError): oslo.policy raises, so deny, even under not or before an allow", () => {
    for (const text of ["not $x:y", "not 1abc:1", "not 'open:x", "not 017:15", "%(x)s:1 or @", "not :x"]) {
      expect(ev(text, { x: "1" }, bare({ $x: "y", "1abc": "1", "'open": "x", "017": "15", "": "x" }))).toBe(
        false,
      );
    }
    expect(why("%(x)s:1 or @", { x: "1" }, bare({}))).toEqual({
      allowed: false,
      decidedBy: '%(x)s:1 (error: "%(x)s" is not a Python expression)',
    });
  });
});

describe("str() of target and credential values", () => {
  it("None, booleans and numbers print as Python does", () => {
    expect(ev("is_admin:True", {}, bare({ is_admin: true }))).toBe(true);
    expect(ev("is_admin:True", {}, bare({ is_admin: false }))).toBe(false);
    expect(ev("project_id:None", {}, bare({ project_id: null }))).toBe(true);
    expect(ev("size:%(size)s", { size: 1.5 }, bare({ size: "1.5" }))).toBe(true);
    expect(ev("size:%(size)s", { size: 12 }, bare({ size: 12 }))).toBe(true);
    expect(ev("n:%(v)s", { v: "1e-05" }, bare({ n: 0.00001 }))).toBe(true);
  });

  it("lists and dicts print as their repr()", () => {
    expect(ev("x:%(tags)s", { tags: ["a", "it's"] }, bare({ x: `['a', "it's"]` }))).toBe(true);
    expect(
      ev("d:%(want)s", { want: "{'k': [True, None, 0.1]}" }, bare({ d: { k: [true, null, 0.1] } })),
    ).toBe(true);
  });
});

describe("%-formatting of the match with the target", () => {
  it("%% is a literal percent sign", () => {
    expect(ev("project_id:100%%", {}, bare({ project_id: "100%" }))).toBe(true);
  });

  it("a missing key fails the check (KeyError), so not of it passes", () => {
    expect(ev("project_id:%(owner)s", {}, bare({ project_id: "p1" }))).toBe(false);
    expect(ev("not project_id:%(owner)s", {}, bare({ project_id: "p1" }))).toBe(true);
    expect(why("project_id:%(owner)s", {}, bare({ project_id: "p1" }))).toEqual({
      allowed: false,
      decidedBy: 'project_id:%(owner)s (no "owner" in target)',
    });
  });

  it("what Python raises on denies, even under not", () => {
    for (const match of ["%", "%(x", "%(x)", "%(x)z", "%s", "%(x)s%s"]) {
      expect(ev(`not project_id:${match}`, { x: "p1" }, bare({ project_id: "p1" }))).toBe(false);
    }
    expect(why("not project_id:%", {}, bare({}))).toEqual({
      allowed: false,
      decidedBy: "project_id:% (error: incomplete format)",
    });
  });

  it("nested parentheses in keys; %(key)r and precision are not ported: deny, even under not", () => {
    expect(ev("'v':%(a(b)c)s", { "a(b)c": "v" }, bare({}))).toBe(true);
    // Python would format these; the SQL side (src/policy/sql.ts) could not, so both deny.
    expect(ev(`"'a'":%(x)r`, { x: "a" }, bare({}))).toBe(false);
    expect(ev("'ab':%(x).2s", { x: "abc" }, bare({}))).toBe(false);
    expect(ev("not 'ab':%(x).2s", { x: "abc" }, bare({}))).toBe(false);
  });

  it("numeric conversions are not ported: deny (Python would format)", () => {
    expect(ev("'1':%(x)d", { x: 1 }, bare({}))).toBe(false);
    expect(ev("not '1':%(x)d", { x: 1 }, bare({}))).toBe(false);
  });

  it("a credential path through a non-dict raises in Python: deny, even under not", () => {
    expect(ev("not project_id.x:y", {}, bare({ project_id: "p1" }))).toBe(false);
    expect(ev("not l.k:v", {}, bare({ l: ["s", { k: "v" }] }))).toBe(false);
    expect(ev("l.k:v", {}, bare({ l: [{ k: "v" }, "s"] }))).toBe(true);
  });
});

describe("explain: what decided", () => {
  const rules = rulesOf({ a: "rule:b", b: "role:admin or role:x", context_is_admin: "role:admin" });

  it("through rules", () => {
    expect(why("rule:a", {}, bare({ roles: ["admin"] }), rules)).toEqual({
      allowed: true,
      decidedBy: "rule:a → rule:b → role:admin",
    });
    expect(why("rule:a", {}, bare({ roles: [] }), rules)).toEqual({
      allowed: false,
      decidedBy: "rule:a → rule:b → (role:admin or role:x)",
    });
    expect(why("rule:nope", {}, bare({}), rules)).toEqual({
      allowed: false,
      decidedBy: "rule:nope (undefined rule)",
    });
    expect(why("rule:context_is_admin or role:x and rule:nope", {}, bare({ roles: ["x"] }), rules)).toEqual({
      allowed: false,
      decidedBy: "((rule:context_is_admin → role:admin) or (rule:nope (undefined rule)))",
    });
  });

  it("through not", () => {
    expect(why("not role:admin", {}, bare({ roles: [] }))).toEqual({
      allowed: true,
      decidedBy: "not role:admin",
    });
    expect(why("not (role:a or role:b)", {}, bare({ roles: ["a"] }))).toEqual({
      allowed: false,
      decidedBy: "not role:a",
    });
    expect(why("not rule:a", {}, bare({ roles: ["x"] }), rules)).toEqual({
      allowed: false,
      decidedBy: "not (rule:a → rule:b → role:x)",
    });
  });

  it("a leaf that did not parse", () => {
    expect(why("foobar or role:x", {}, bare({ roles: [] }))).toEqual({
      allowed: false,
      decidedBy: "((! (failed to understand rule \"foobar\" (no ':'))) or role:x)",
    });
    expect(why("foobar and role:x", {}, bare({ roles: [] }))).toEqual({
      allowed: false,
      decidedBy: "! (failed to understand rule \"foobar\" (no ':'))",
    });
  });
});

describe("Glance's check strings (glance/policies/base.py)", () => {
  const rules = rulesOf({
    default: "",
    context_is_admin: "role:admin",
    service_api: "role:service or role:admin",
  });
  const GET_IMAGE: Check = parseCheck(
    "rule:context_is_admin or (role:reader and (project_id:%(project_id)s or project_id:%(member_id)s or " +
      "'community':%(visibility)s or 'public':%(visibility)s or 'shared':%(visibility)s))",
  );
  const GET_MEMBER = parseCheck(
    "rule:context_is_admin or role:reader and (project_id:%(project_id)s or project_id:%(member_id)s)",
  );
  const ADD_IMAGE = parseCheck(
    "rule:context_is_admin or (role:member and project_id:%(project_id)s and project_id:%(owner)s)",
  );
  const caller = (roles: string[], project: string): Credentials => ({
    roles,
    project_id: project,
    user_id: "u1",
    project_domain_id: "default",
    user_domain_id: "default",
    is_admin: false,
  });
  const image = (visibility: string, owner = "p1", extra: Record<string, unknown> = {}): Target => ({
    id: "img",
    project_id: owner,
    owner,
    visibility,
    ...extra,
  });

  it("get_image: admin of any project", () => {
    expect(explain(GET_IMAGE, image("private"), caller(["admin"], "p9"), rules)).toEqual({
      allowed: true,
      decidedBy: "rule:context_is_admin → role:admin",
    });
  });

  it("get_image: reader of the owning project", () => {
    expect(explain(GET_IMAGE, image("private"), caller(["reader"], "p1"), rules)).toEqual({
      allowed: true,
      decidedBy: "(role:reader and project_id:%(project_id)s)",
    });
  });

  it("get_image: reader of another project, by visibility", () => {
    const other = caller(["reader", "member"], "p2");
    expect(evaluate(GET_IMAGE, image("private"), other, rules)).toBe(false);
    expect(explain(GET_IMAGE, image("public"), other, rules)).toEqual({
      allowed: true,
      decidedBy: "(role:reader and 'public':%(visibility)s)",
    });
    expect(evaluate(GET_IMAGE, image("community"), other, rules)).toBe(true);
    expect(evaluate(GET_IMAGE, image("shared"), other, rules)).toBe(true);
  });

  it("get_image: an image member (member_id in the target)", () => {
    expect(
      explain(GET_IMAGE, image("private", "p1", { member_id: "p3" }), caller(["Reader"], "p3"), rules),
    ).toEqual({
      allowed: true,
      decidedBy: "(role:reader and project_id:%(member_id)s)",
    });
  });

  it("get_image: without the reader role even public images are denied", () => {
    expect(explain(GET_IMAGE, image("public"), caller(["member"], "p1"), rules)).toEqual({
      allowed: false,
      decidedBy: "((rule:context_is_admin → role:admin) or role:reader)",
    });
  });

  it("get_member: `A or B and (C)` groups as `A or (B and (C))`", () => {
    expect(
      evaluate(GET_MEMBER, image("shared", "p1", { member_id: "p3" }), caller(["member"], "p3"), rules),
    ).toBe(false);
    expect(
      evaluate(GET_MEMBER, image("shared", "p1", { member_id: "p3" }), caller(["reader"], "p3"), rules),
    ).toBe(true);
    expect(evaluate(GET_MEMBER, image("shared", "p1"), caller(["reader"], "p2"), rules)).toBe(false);
  });

  it("add_image: the owner must be the caller's project", () => {
    expect(evaluate(ADD_IMAGE, image("private", "p1"), caller(["member"], "p1"), rules)).toBe(true);
    expect(evaluate(ADD_IMAGE, image("private", "p2"), caller(["member"], "p1"), rules)).toBe(false);
    expect(evaluate(ADD_IMAGE, { project_id: "p1" }, caller(["member"], "p1"), rules)).toBe(false);
  });

  it("service_api: role:service or role:admin", () => {
    expect(ev("rule:service_api", {}, caller(["service"], "svc"), rules)).toBe(true);
    expect(ev("rule:service_api", {}, caller(["member"], "p1"), rules)).toBe(false);
  });
});
