/**
 * Conformance of parse.ts with oslo.policy's parser: each `describe` is a test class of
 * oslo_policy/tests/test_parser.py (or test_checks.py / test_policy.py for `__str__`), each `it`
 * names the test it mirrors. Mock-based tests become the nearest observable behaviour through
 * `tokenize`, `parseCheck` and `formatCheck`; the list-of-lists syntax (ParseListRuleTestCase,
 * ParseRuleTestCase) is not ported. Expectations beyond oslo.policy's own tests were produced by
 * running oslo.policy's `_parser` on the same input.
 */
import { describe, expect, it } from "vitest";
import type { Check } from "../../src/policy/check";
import { formatCheck, parseCheck, tokenize } from "../../src/policy/parse";

const T: Check = { kind: "true" };
const F: Check = { kind: "false" };

/** What `_parse_text_rule` returns after "Failed to understand rule": a FalseCheck. */
function expectDenied(text: string): void {
  const c = parseCheck(text);
  expect(c.kind).toBe("false");
  expect(formatCheck(c)).toBe("!");
  expect(c.kind === "false" ? c.reason : undefined).toMatch(/failed to understand rule/);
}

describe("ParseCheckTestCase (_parse_check)", () => {
  it("test_false", () => {
    expect(parseCheck("!")).toEqual(F);
  });

  it("test_true", () => {
    expect(parseCheck("@")).toEqual(T);
  });

  it("test_bad_rule: no ':' fails closed", () => {
    expect(parseCheck("foobar")).toEqual({
      kind: "false",
      reason: "failed to understand rule \"foobar\" (no ':')",
    });
  });

  it("test_no_handler: plug-in kinds (http, https) are not ported and deny", () => {
    for (const text of ["http://pdp.example/check", "https://pdp.example/check"]) {
      const c = parseCheck(text);
      expect(c.kind).toBe("false");
      expect(c.kind === "false" ? c.reason : undefined).toMatch(/plug-in check "https?:"/);
    }
    // Inside a larger rule only that leaf denies ('(role:a or !)' in oslo.policy).
    expect(formatCheck(parseCheck("role:a or http:x"))).toBe("(role:a or !)");
  });

  it("test_check: registered kinds rule and role", () => {
    expect(parseCheck("rule:spam")).toEqual({ kind: "rule", name: "spam" });
    expect(parseCheck("role:handler")).toEqual({ kind: "role", match: "handler" });
    expect(parseCheck("role:")).toEqual({ kind: "role", match: "" });
  });

  it("test_check_default: any other kind is a GenericCheck, split at the first ':'", () => {
    expect(parseCheck("spam:handler")).toEqual({ kind: "generic", left: "spam", match: "handler" });
    expect(parseCheck("a:b:c")).toEqual({ kind: "generic", left: "a", match: "b:c" });
    // Registered names are case-sensitive: this is a credential lookup of "ROLE".
    expect(parseCheck("ROLE:admin")).toEqual({ kind: "generic", left: "ROLE", match: "admin" });
    expect(parseCheck("'a':%(x)s")).toEqual({ kind: "generic", left: "'a'", match: "%(x)s" });
  });
});

describe("ParseTokenizeTestCase (_parse_tokenize)", () => {
  it("test_tokenize", () => {
    const exemplar = "(( ( ((() And)) or ) (rule:context_is_admin) not)) 'a-string' \"another-string\"";
    expect(tokenize(exemplar)).toEqual([
      { type: "(" },
      { type: "(" },
      { type: "(" },
      { type: "(" },
      { type: "(" },
      { type: "(" },
      { type: ")" },
      { type: "and", text: "And" },
      { type: ")" },
      { type: ")" },
      { type: "or", text: "or" },
      { type: ")" },
      { type: "(" },
      { type: "check", check: { kind: "rule", name: "context_is_admin" } },
      { type: ")" },
      { type: "not", text: "not" },
      { type: ")" },
      { type: ")" },
      { type: "string", value: "a-string" },
      { type: "string", value: "another-string" },
    ]);
  });

  it("splits on Python's whitespace (\\x1c, \\x85 yes; U+FEFF no)", () => {
    expect(tokenize("@\x1cor\x85!")).toEqual([
      { type: "check", check: T },
      { type: "or", text: "or" },
      { type: "check", check: F },
    ]);
    expect(formatCheck(parseCheck("@\x1cor\x85!"))).toBe("(@ or !)");
    expect(tokenize("@\ufeffor !").map((t) => t.type)).toEqual(["check", "check"]);
    expectDenied("@\ufeffor !");
  });

  it("a quote check looks at the word before trailing ')' are removed", () => {
    expect(tokenize("'a'")).toEqual([{ type: "string", value: "a" }]);
    expect(tokenize("('a')")).toEqual([
      { type: "(" },
      { type: "check", check: { kind: "false", reason: "failed to understand rule \"'a'\" (no ':')" } },
      { type: ")" },
    ]);
  });

  it("parentheses inside a word stay in the check ('not(' is not the keyword)", () => {
    expect(tokenize("not(role:c)")).toEqual([
      { type: "check", check: { kind: "generic", left: "not(role", match: "c" } },
      { type: ")" },
    ]);
    expectDenied("not(role:c)");
    expectDenied("(role:a or (role:b))and(role:c)");
    expect(tokenize("(project_id:%(project_id)s)")).toEqual([
      { type: "(" },
      { type: "check", check: { kind: "generic", left: "project_id", match: "%(project_id)s" } },
      { type: ")" },
    ]);
  });
});

describe("ParseStateTestCase (reductions, observed through parseCheck)", () => {
  it("test_reduce_parentheses", () => {
    expect(parseCheck("(@)")).toEqual(T);
    expect(parseCheck("((@))")).toEqual(T);
  });

  it("test_reduce_and_check / test_make_and_expr_reduction", () => {
    expect(parseCheck("@ and !")).toEqual({ kind: "and", checks: [T, F] });
  });

  it("test_reduce_or_check / test_make_or_expr_reduction", () => {
    expect(parseCheck("@ or !")).toEqual({ kind: "or", checks: [T, F] });
  });

  it("test_reduce_not_check / test_make_not_expr_reduction", () => {
    expect(parseCheck("not @")).toEqual({ kind: "not", check: T });
    expect(formatCheck(parseCheck("not not not !"))).toBe("not not not !");
  });

  it("test_reduce_no_match / test_result_unreduced: string tokens never reduce", () => {
    expectDenied("'val1' 'val2'");
  });

  it("test_result_empty: no tokens at all denies (only the empty string is '@')", () => {
    expectDenied(" \t\n");
  });

  it("test_result", () => {
    expect(parseCheck("@")).toEqual(T);
  });

  it("test_result_invalid_value", () => {
    expectDenied("'not_a_check'");
  });

  it("test_wrap_check_reduction", () => {
    expect(parseCheck("( @ )")).toEqual(T);
  });

  it("test_extend_and_expr_reduction: one flat AndCheck", () => {
    expect(parseCheck("@ and ! and @")).toEqual({ kind: "and", checks: [T, F, T] });
  });

  it("test_extend_or_expr_reduction: one flat OrCheck", () => {
    expect(parseCheck("@ or ! or @")).toEqual({ kind: "or", checks: [T, F, T] });
  });

  it("test_and_expr_with_or_reduction", () => {
    expect(parseCheck("@ and ! or @")).toEqual({ kind: "or", checks: [{ kind: "and", checks: [T, F] }, T] });
  });

  it("test_or_expr_with_and_reduction: 'A or B and C' is 'A or (B and C)'", () => {
    expect(parseCheck("@ or ! and @")).toEqual({ kind: "or", checks: [T, { kind: "and", checks: [F, T] }] });
  });

  it("test_shift: an incomplete stack does not reduce to one check", () => {
    for (const text of ["@ and", "and @", "( @", "@ )", "not", "or", "@ @", "foo:bar)"]) expectDenied(text);
  });
});

describe("ParseTextRuleTestCase (_parse_text_rule)", () => {
  it("test_empty", () => {
    expect(parseCheck("")).toEqual(T);
  });

  it("test_fail: a rule whose tokens do not reduce denies", () => {
    expectDenied("test rule");
  });

  const cases: [string, string[], string][] = [
    ["test_A_or_B_or_C", ["@ or ! or @"], "(@ or ! or @)"],
    ["test_A_or_B_and_C", ["@ or ! and @"], "(@ or (! and @))"],
    ["test_A_and_B_or_C", ["@ and ! or @"], "((@ and !) or @)"],
    ["test_A_and_B_and_C", ["@ and ! and @"], "(@ and ! and @)"],
    ["test_A_or_B_or_C_or_D", ["@ or ! or @ or !"], "(@ or ! or @ or !)"],
    ["test_A_or_B_or_C_and_D", ["@ or ! or @ and !"], "(@ or ! or (@ and !))"],
    ["test_A_or_B_and_C_or_D", ["@ or ! and @ or !"], "(@ or (! and @) or !)"],
    ["test_A_or_B_and_C_and_D", ["@ or ! and @ and !"], "(@ or (! and @ and !))"],
    ["test_A_and_B_or_C_or_D", ["@ and ! or @ or !"], "((@ and !) or @ or !)"],
    ["test_A_and_B_or_C_and_D", ["@ and ! or @ and !"], "((@ and !) or (@ and !))"],
    ["test_A_and_B_and_C_or_D", ["@ and ! and @ or !"], "((@ and ! and @) or !)"],
    ["test_A_and_B_and_C_and_D", ["@ and ! and @ and !"], "(@ and ! and @ and !)"],
    ["test_A_and_B_or_C_with_not_1", ["not @ and ! or @"], "((not @ and !) or @)"],
    ["test_A_and_B_or_C_with_not_2", ["@ and not ! or @"], "((@ and not !) or @)"],
    ["test_A_and_B_or_C_with_not_3", ["@ and ! or not @"], "((@ and !) or not @)"],
    [
      "test_A_and_B_or_C_with_group_1",
      [
        "( @ ) and ! or @",
        "@ and ( ! ) or @",
        "@ and ! or ( @ )",
        "( @ ) and ! or ( @ )",
        "@ and ( ! ) or ( @ )",
        "( @ ) and ( ! ) or ( @ )",
        "( @ and ! ) or @",
        "( ( @ ) and ! ) or @",
        "( @ and ( ! ) ) or @",
        "( ( @ and ! ) ) or @",
        "( @ and ! or @ )",
      ],
      "((@ and !) or @)",
    ],
    ["test_A_and_B_or_C_with_group_2", ["@ and ( ! or @ )"], "(@ and (! or @))"],
    [
      "test_A_and_B_or_C_with_group_and_not_1",
      [
        "not ( @ ) and ! or @",
        "not @ and ( ! ) or @",
        "not @ and ! or ( @ )",
        "( not @ ) and ! or @",
        "( not @ and ! ) or @",
        "( not @ and ! or @ )",
      ],
      "((not @ and !) or @)",
    ],
    ["test_A_and_B_or_C_with_group_and_not_2", ["not @ and ( ! or @ )"], "(not @ and (! or @))"],
    ["test_A_and_B_or_C_with_group_and_not_3", ["not ( @ and ! or @ )"], "not ((@ and !) or @)"],
    [
      "test_A_and_B_or_C_with_group_and_not_4",
      [
        "( @ ) and not ! or @",
        "@ and ( not ! ) or @",
        "@ and not ( ! ) or @",
        "@ and not ! or ( @ )",
        "( @ and not ! ) or @",
        "( @ and not ! or @ )",
      ],
      "((@ and not !) or @)",
    ],
    ["test_A_and_B_or_C_with_group_and_not_5", ["@ and ( not ! or @ )"], "(@ and (not ! or @))"],
    ["test_A_and_B_or_C_with_group_and_not_6", ["@ and not ( ! or @ )"], "(@ and not (! or @))"],
    [
      "test_A_and_B_or_C_with_group_and_not_7",
      [
        "( @ ) and ! or not @",
        "@ and ( ! ) or not @",
        "@ and ! or not ( @ )",
        "@ and ! or ( not @ )",
        "( @ and ! ) or not @",
        "( @ and ! or not @ )",
      ],
      "((@ and !) or not @)",
    ],
    ["test_A_and_B_or_C_with_group_and_not_8", ["@ and ( ! or not @ )"], "(@ and (! or not @))"],
    // Beyond test_parser.py: keywords in any case, parentheses stuck to words.
    ["keywords are case-insensitive", ["@ AND ! Or NOT @", "@ aNd ! OR nOt @"], "((@ and !) or not @)"],
    [
      "parentheses stuck to words",
      ["(((@ or !)) and (not (!)))", "((@ or !) and not !)"],
      "((@ or !) and not !)",
    ],
  ];
  it.each(cases)("%s", (_name, expressions, expected) => {
    for (const expression of expressions) expect(formatCheck(parseCheck(expression))).toBe(expected);
  });
});

describe("__str__ of checks (test_checks.py, test_policy.py)", () => {
  const kind = (n = ""): Check => ({ kind: "generic", left: `kind${n}`, match: `match${n}` });

  it("FalseCheckTestCase.test_str / TrueCheckTestCase.test_str", () => {
    expect(formatCheck(F)).toBe("!");
    expect(formatCheck({ kind: "false", reason: "anything" })).toBe("!");
    expect(formatCheck(T)).toBe("@");
  });

  it("CheckTestCase.test_str", () => {
    expect(formatCheck(kind())).toBe("kind:match");
    expect(formatCheck({ kind: "rule", name: "foo" })).toBe("rule:foo");
    expect(formatCheck({ kind: "role", match: "%(role)s" })).toBe("role:%(role)s");
  });

  it("NotCheckTestCase.test_str", () => {
    expect(formatCheck({ kind: "not", check: kind() })).toBe("not kind:match");
  });

  it("AndCheckTestCase.test_str", () => {
    expect(formatCheck({ kind: "and", checks: [kind("1"), kind("2")] })).toBe(
      "(kind1:match1 and kind2:match2)",
    );
  });

  it("OrCheckTestCase.test_str", () => {
    expect(formatCheck({ kind: "or", checks: [kind("1"), kind("2")] })).toBe(
      "(kind1:match1 or kind2:match2)",
    );
  });

  it("RuleDefaultTestCase.test_rule_is_parsed / test_equality_less_obvious", () => {
    expect(formatCheck(parseCheck("rule:foo"))).toBe("rule:foo");
    expect(parseCheck("")).toEqual(parseCheck("@"));
  });

  it("EnforcerNoPolicyFileTest.test_opts_registered", () => {
    expect(formatCheck(parseCheck("role:owner"))).toBe("role:owner");
    expect(formatCheck(parseCheck("is_admin:False"))).toBe("is_admin:False");
  });
});

describe("Glance's default check strings (glance/policies/base.py)", () => {
  const ADMIN = "rule:context_is_admin";
  const PROJECT_MEMBER = "role:member and project_id:%(project_id)s";
  const PROJECT_READER = "role:reader and project_id:%(project_id)s";
  const IMAGE_MEMBER_CHECK = "project_id:%(member_id)s";
  const VISIBLE = "'community':%(visibility)s or 'public':%(visibility)s or 'shared':%(visibility)s";
  const cases: [string, string, string][] = [
    [
      "get_image",
      `${ADMIN} or (role:reader and (project_id:%(project_id)s or ${IMAGE_MEMBER_CHECK} or ${VISIBLE}))`,
      "(rule:context_is_admin or (role:reader and (project_id:%(project_id)s or project_id:%(member_id)s or 'community':%(visibility)s or 'public':%(visibility)s or 'shared':%(visibility)s)))",
    ],
    [
      "add_image",
      `${ADMIN} or (${PROJECT_MEMBER} and project_id:%(owner)s)`,
      "(rule:context_is_admin or (role:member and project_id:%(project_id)s and project_id:%(owner)s))",
    ],
    [
      "get_images",
      `${ADMIN} or (${PROJECT_READER})`,
      "(rule:context_is_admin or (role:reader and project_id:%(project_id)s))",
    ],
    [
      "modify_member",
      `${ADMIN} or (role:member and ${IMAGE_MEMBER_CHECK})`,
      "(rule:context_is_admin or (role:member and project_id:%(member_id)s))",
    ],
    [
      // No parentheses around the `and`: precedence groups it.
      "get_member",
      `${ADMIN} or role:reader and (project_id:%(project_id)s or ${IMAGE_MEMBER_CHECK})`,
      "(rule:context_is_admin or (role:reader and (project_id:%(project_id)s or project_id:%(member_id)s)))",
    ],
    ["service_api", "role:service or role:admin", "(role:service or role:admin)"],
  ];
  it.each(cases)("%s parses as oslo.policy prints it", (_name, text, expected) => {
    expect(formatCheck(parseCheck(text))).toBe(expected);
    // str() of a parsed rule parses back to the same tree.
    expect(parseCheck(expected)).toEqual(parseCheck(text));
  });
});
