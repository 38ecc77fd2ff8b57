import { afterEach, describe, expect, it, vi } from "vitest";
import { addMember, as, call, createImage, dump, expectError, LEGACY, project } from "../helpers";

/**
 * docs/reference.md §11 on the member routes: roles under the default `secure-rbac` rules, as Glance answers
 * with enforce_new_defaults, and operator overrides (POLICY_OVERRIDES) layered over them.
 */
const READER = ["reader"];
const MEMBER = ["member", "reader"];
const NONE: string[] = [];
const notAuthorized = (rule: string) => `You are not authorized to complete ${rule} action.`;

async function shared() {
  const owner = project("owner");
  const member = project("member");
  const id = await createImage(owner);
  await addMember(owner, id, member);
  return { owner, member, id };
}

describe("secure-rbac: a reader looks but does not share (docs/reference.md §11)", () => {
  it("the owner's reader lists and shows members, but cannot add or remove one", async () => {
    const { owner, member, id } = await shared();
    const list = await as(owner, READER).get(`/v2/images/${id}/members`);
    expect(list.status).toBe(200);
    expect(
      ((await list.json()) as { members: { member_id: string }[] }).members.map((m) => m.member_id),
    ).toEqual([member]);
    expect((await as(owner, READER).get(`/v2/images/${id}/members/${member}`)).status).toBe(200);
    const before = await dump();
    await expectError(
      await as(owner, READER).post(`/v2/images/${id}/members`, { member_id: project() }),
      403,
      notAuthorized("add_member"),
    );
    await expectError(
      await as(owner, READER).delete(`/v2/images/${id}/members/${member}`),
      403,
      notAuthorized("delete_member"),
    );
    expect(await dump()).toBe(before);
  });

  it("a member project's reader sees its own row but may not accept (modify_member needs member)", async () => {
    const { member, id } = await shared();
    const list = (await (await as(member, READER).get(`/v2/images/${id}/members`)).json()) as {
      members: unknown[];
    };
    expect(list.members).toHaveLength(1);
    const before = await dump();
    await expectError(
      await as(member, READER).put(`/v2/images/${id}/members/${member}`, { status: "accepted" }),
      403,
      notAuthorized("modify_member"),
    );
    expect(await dump()).toBe(before);
    expect(
      (await as(member, MEMBER).put(`/v2/images/${id}/members/${member}`, { status: "accepted" })).status,
    ).toBe(200);
  });

  it("a user with no role: the image is there for the database, not for get_image (bare 404)", async () => {
    const { owner, member, id } = await shared();
    const before = await dump();
    for (const who of [owner, member]) {
      const p = as(who, NONE);
      await expectError(await p.get(`/v2/images/${id}/members`), 404, "The resource could not be found.");
      await expectError(
        await p.get(`/v2/images/${id}/members/${member}`),
        404,
        "The resource could not be found.",
      );
      await expectError(
        await p.post(`/v2/images/${id}/members`, { member_id: project() }),
        404,
        "The resource could not be found.",
      );
      await expectError(
        await p.put(`/v2/images/${id}/members/${member}`, { status: "accepted" }),
        404,
        "The resource could not be found.",
      );
      await expectError(
        await p.delete(`/v2/images/${id}/members/${member}`),
        404,
        "The resource could not be found.",
      );
    }
    expect(await dump()).toBe(before);
    // A stranger without roles still learns nothing: the database does not show the image.
    await expectError(
      await as(project(), NONE).get(`/v2/images/${id}/members`),
      404,
      `Image ${id} not found.`,
    );
  });

  it("show answers get_member's refusal as 404, PUT and DELETE as 403 (Glance's exception mapping)", async () => {
    const { member, id } = await shared();
    // Only the member role, no reader: get_image fails too, so every route is a bare 404 first.
    await expectError(
      await as(member, ["member"]).get(`/v2/images/${id}/members/${member}`),
      404,
      "The resource could not be found.",
    );
    const vars = { POLICY_OVERRIDES: JSON.stringify({ get_member: "!" }) };
    await expectError(
      await as(member, MEMBER, vars).get(`/v2/images/${id}/members/${member}`),
      404,
      notAuthorized("get_member"),
    );
    await expectError(
      await as(member, MEMBER, vars).put(`/v2/images/${id}/members/${member}`, { status: "accepted" }),
      403,
      notAuthorized("get_member"),
    );
    // get_members passes, but each row needs get_member: the list is empty.
    const list = (await (await as(member, MEMBER, vars).get(`/v2/images/${id}/members`)).json()) as {
      members: unknown[];
    };
    expect(list.members).toEqual([]);
  });

  it("legacy: no role matters but admin (docs/reference.md §4–§5 as written)", async () => {
    const { owner, member, id } = await shared();
    const added = await as(owner, NONE, LEGACY).post(`/v2/images/${id}/members`, { member_id: project() });
    expect(added.status).toBe(200);
    expect(
      (await as(member, NONE, LEGACY).put(`/v2/images/${id}/members/${member}`, { status: "accepted" }))
        .status,
    ).toBe(200);
  });
});

describe("POLICY_OVERRIDES (docs/reference.md §11): layered over the defaults as Glance layers policy.yaml", () => {
  it("a member may leave a share: delete_member extended with its own project", async () => {
    const { owner, member, id } = await shared();
    const other = project("other");
    await addMember(owner, id, other);
    const vars = {
      POLICY_OVERRIDES: JSON.stringify({
        delete_member:
          "rule:context_is_admin or (role:member and project_id:%(project_id)s) or (role:member and project_id:%(member_id)s)",
      }),
    };
    const before = await dump();
    // Not another member's row: that row is not the member's to see (404), whatever the rule says.
    await expectError(
      await as(member, MEMBER, vars).delete(`/v2/images/${id}/members/${other}`),
      404,
      `${other} not found in the member list of the image ${id}.`,
    );
    expect(await dump()).toBe(before);
    expect((await as(member, MEMBER, vars).delete(`/v2/images/${id}/members/${member}`)).status).toBe(204);
    // Without the override, the default still refuses.
    await expectError(
      await as(other, MEMBER).delete(`/v2/images/${id}/members/${other}`),
      403,
      notAuthorized("delete_member"),
    );
  });

  it('nobody may share: add_member "!" (admins included), in YAML', async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    const vars = { POLICY_OVERRIDES: 'add_member: "!"\n' };
    const before = await dump();
    for (const roles of [MEMBER, ["admin", "member", "reader"]]) {
      await expectError(
        await as(owner, roles, vars).post(`/v2/images/${id}/members`, { member_id: project() }),
        403,
        notAuthorized("add_member"),
      );
    }
    expect(await dump()).toBe(before);
  });

  it("a custom rule used through rule:, and a rule on an image property", async () => {
    const owner = project("owner");
    const yes = await createImage(owner, { sharing: "allowed" });
    const no = await createImage(owner);
    const vars = {
      POLICY_OVERRIDES: JSON.stringify({
        may_share: "'allowed':%(sharing)s",
        add_member: "rule:context_is_admin or (role:member and project_id:%(project_id)s and rule:may_share)",
      }),
    };
    expect(
      (await as(owner, MEMBER, vars).post(`/v2/images/${yes}/members`, { member_id: project() })).status,
    ).toBe(200);
    await expectError(
      await as(owner, MEMBER, vars).post(`/v2/images/${no}/members`, { member_id: project() }),
      403,
      notAuthorized("add_member"),
    );
  });
});

describe("credentials of docs/reference.md §11 in rules", () => {
  it("domains come from X-Project-Domain-Id and X-User-Domain-Id (trusted headers)", async () => {
    const { owner, id } = await shared();
    const vars = {
      POLICY_OVERRIDES: JSON.stringify({
        get_members: "user_domain_id:corp and project_domain_id:%(owner)s-dom",
      }),
    };
    const list = (headers: Record<string, string>) =>
      call("GET", `/v2/images/${id}/members`, { who: { project: owner }, headers, vars });
    expect((await list({ "X-User-Domain-Id": "corp", "X-Project-Domain-Id": `${owner}-dom` })).status).toBe(
      200,
    );
    await expectError(await list({ "X-User-Domain-Id": "corp" }), 403, notAuthorized("get_members"));
    await expectError(
      await list({ "X-Project-Domain-Id": `${owner}-dom` }),
      403,
      notAuthorized("get_members"),
    );
  });

  it("user_id and is_admin are credentials too", async () => {
    const { owner, id } = await shared();
    const vars = { POLICY_OVERRIDES: JSON.stringify({ get_members: "user_id:alice or is_admin:True" }) };
    const list = (user: string, roles: string[]) =>
      call("GET", `/v2/images/${id}/members`, { who: { project: owner, user, roles }, vars });
    expect((await list("alice", MEMBER)).status).toBe(200);
    await expectError(await list("bob", MEMBER), 403, notAuthorized("get_members"));
    expect((await list("bob", ["admin"])).status).toBe(200);
  });
});

describe("POLICY_DEFAULTS and POLICY_OVERRIDES that cannot be used", () => {
  const spies: ReturnType<typeof vi.spyOn>[] = [];
  afterEach(() => {
    for (const s of spies.splice(0)) s.mockRestore();
  });
  const quiet = () => {
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    spies.push(error, warn);
    return { error, warn };
  };

  it("a document that is not a mapping of strings: 503 on every /v2 request, logged, nothing written", async () => {
    const { owner, id } = await shared();
    for (const doc of [
      "[1, 2]",
      '"add_member"',
      "add_member: [1]",
      '{"add_member": null}',
      "{: nope",
      "42",
    ]) {
      const { error } = quiet();
      const before = await dump();
      const res = await as(owner, MEMBER, { POLICY_OVERRIDES: doc }).post(`/v2/images/${id}/members`, {
        member_id: project(),
      });
      await expectError(res, 503, "The server is currently unavailable. Please try again at a later time.");
      expect(res.headers.get("Retry-After")).toBe("30");
      expect(await dump()).toBe(before);
      expect(error.mock.calls.map((c) => String(c[0])).join("\n")).toMatch(/POLICY_OVERRIDES/);
    }
    const { error } = quiet();
    await expectError(
      await as(owner, MEMBER, { POLICY_DEFAULTS: "strict" }).get(`/v2/images/${id}/members`),
      503,
      "The server is currently unavailable. Please try again at a later time.",
    );
    expect(error.mock.calls.map((c) => String(c[0])).join("\n")).toMatch(/POLICY_DEFAULTS .*strict/);
  });

  it("a check string that does not parse, or a rule: to nothing, denies and is logged", async () => {
    const { owner, id } = await shared();
    for (const check of ["role:member and", "rule:no_such_rule", "(role:member"]) {
      const { warn } = quiet();
      const vars = { POLICY_OVERRIDES: JSON.stringify({ add_member: check }) };
      await expectError(
        await as(owner, ["admin", "member", "reader"], vars).post(`/v2/images/${id}/members`, {
          member_id: project(),
        }),
        403,
        notAuthorized("add_member"),
      );
      expect(warn.mock.calls.map((c) => String(c[0])).join("\n")).toMatch(/rule add_member/);
    }
  });

  it("legacy warns once per isolate (per configuration), as trusted-headers does", async () => {
    const { owner, id } = await shared();
    const { warn } = quiet();
    // A configuration this isolate has not loaded yet: an unused rule of its own.
    const vars = { ...LEGACY, POLICY_OVERRIDES: JSON.stringify({ [`unused_${crypto.randomUUID()}`]: "@" }) };
    for (let n = 0; n < 3; n++) {
      expect((await as(owner, MEMBER, vars).get(`/v2/images/${id}/members`)).status).toBe(200);
    }
    const legacyWarnings = warn.mock.calls
      .map((c) => String(c[0]))
      .filter((l) => l.includes("POLICY_DEFAULTS=legacy"));
    expect(legacyWarnings).toHaveLength(1);
    expect(legacyWarnings[0]).toMatch(/"level":"warn".*roles other than admin are ignored/);
  });

  it("an empty document is no overrides; new rule names are allowed", async () => {
    const { owner, id } = await shared();
    for (const doc of ["", "   ", "{}", "# nothing\n", JSON.stringify({ unused_rule: "@" })]) {
      expect(
        (await as(owner, MEMBER, { POLICY_OVERRIDES: doc }).get(`/v2/images/${id}/members`)).status,
      ).toBe(200);
    }
  });
});
