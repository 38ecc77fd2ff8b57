import { describe, expect, it } from "vitest";
import { runCli } from "../../src/policy/cli";

/** The operator tool (docs/reference.md §11): `npm run policy -- rules|lint|check`. */
function run(
  argv: string[],
  vars: { POLICY_DEFAULTS?: string; POLICY_OVERRIDES?: string } = {},
  files: Record<string, string> = {},
) {
  const lines: string[] = [];
  const code = runCli(argv, {
    vars,
    readFile: (path) => {
      const text = files[path];
      if (text === undefined) throw new Error(`no file ${path}`);
      return text;
    },
    out: (t) => lines.push(t),
  });
  return { code, text: lines.join("\n") };
}

describe("npm run policy", () => {
  it("rules: the effective rules as YAML, overrides marked", () => {
    const { code, text } = run(["rules"], { POLICY_OVERRIDES: 'add_member: "!"\nmine: "@"' });
    expect(code).toBe(0);
    expect(text).toContain("POLICY_DEFAULTS=secure-rbac");
    expect(text).toContain('add_member: "!"  # overridden');
    expect(text).toContain('mine: "@"  # added by overrides');
    expect(text).toContain(
      "get_members: rule:context_is_admin or role:reader and (project_id:%(project_id)s or project_id:%(member_id)s)",
    );
    expect(run(["rules", "--defaults", "legacy", "--no-overrides"]).text).toContain('add_member: ""');
  });

  it("lint: unparseable strings, undefined rule: targets, unknown names, cycles; exit 1 on errors", () => {
    const doc = JSON.stringify({
      add_member: "role:member and",
      get_image: "rule:nowhere",
      delete_membr: "!",
      a: "rule:b",
      b: "rule:a",
    });
    const { code, text } = run(["lint", "ov.json"], {}, { "ov.json": doc });
    expect(code).toBe(1);
    expect(text).toMatch(/error: rule add_member denies: .*does not parse/);
    expect(text).toContain("error: rule get_image refers to undefined rule nowhere, which denies");
    expect(text).toContain("warning: rule delete_membr is not a rule glance-edge enforces");
    expect(text).toContain("error: rules refer to each other in a cycle: a → b");
    expect(run(["lint", "ok.yaml"], {}, { "ok.yaml": 'add_member: "rule:context_is_admin"' })).toEqual({
      code: 0,
      text: "ok: 1 override(s), no problems",
    });
    expect(run(["lint", "bad.yaml"], {}, { "bad.yaml": "- a\n- b" })).toEqual({
      code: 1,
      text: "error: not a mapping of rule names to check strings",
    });
  });

  it("check: the verdict and the sub-check that decided", () => {
    const reader = run(["check", "add_member", "--project", "p1", "--roles", "reader", "--owner", "p1"]);
    expect(reader.code).toBe(1);
    expect(reader.text).toContain("DENIED: add_member");
    expect(reader.text).toContain("decided by: ((rule:context_is_admin → role:admin) or role:member)");
    const member = run([
      "check",
      "modify_member",
      "--project",
      "p2",
      "--roles",
      "Member,reader",
      "--owner",
      "p1",
      "--member",
    ]);
    expect(member.code).toBe(0);
    expect(member.text).toContain("decided by: (role:member and project_id:%(member_id)s)");
    const prop = run(["check", "x", "--project", "p", "--property", "os_distro=cirros"], {
      POLICY_OVERRIDES: JSON.stringify({ x: "'cirros':%(os_distro)s" }),
    });
    expect(prop.text).toContain("ALLOWED: x");
  });

  it("a configuration the service would refuse is an error, and usage errors exit 2", () => {
    expect(run(["rules"], { POLICY_OVERRIDES: "[1]" }).code).toBe(1);
    expect(run([]).code).toBe(2);
    expect(run(["frobnicate"]).code).toBe(2);
    expect(run(["check"]).code).toBe(2);
  });
});
