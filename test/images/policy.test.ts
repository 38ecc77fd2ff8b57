import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { makeCaller } from "../../src/auth/caller";
import { authorizer, changeSteps, PATCH_READ } from "../../src/images/rules";
import { documentOf, readImage, updateImage } from "../../src/images/store";
import { credentialsOf, loadPolicy } from "../../src/policy/policy";
import { addMember, as, call, createImage, expectError, JSON_PATCH, project } from "../helpers";

/**
 * docs/reference.md §11 on POST /v2/images and GET /v2/images, operators' overrides, and the SQL guard that
 * makes a write's rule hold at the instant of the write.
 */
type Mode = "secure-rbac" | "legacy";

const READER = ["reader"];
const MEMBER = ["member", "reader"];
const NONE: string[] = [];
const ADMIN = ["admin", "member", "reader"];

describe("POST /v2/images: add_image, then the visibility's rule (docs/reference.md §11)", () => {
  const na = (rule: string) => `You are not authorized to complete ${rule} action.`;
  const other = (owner: string) =>
    `Access was denied to this resource. You are not permitted to create images owned by '${owner}'`;

  /** [roles, body, secure-rbac answer, legacy answer]: a status, or [status, message]. */
  type Outcome = number | [number, string];
  const cases: [string, string[], (me: string) => Record<string, unknown>, Outcome, Outcome][] = [
    ["member, default visibility", MEMBER, () => ({}), 201, 201],
    ["reader only", READER, () => ({}), [403, na("add_image")], 201],
    ["no role", NONE, () => ({}), [403, na("add_image")], 201],
    ["member, own project as owner", MEMBER, (me) => ({ owner: me }), 201, 201],
    [
      "member, another owner",
      MEMBER,
      () => ({ owner: "proj-z" }),
      [403, other("proj-z")],
      [403, "You are not permitted to create images owned by 'proj-z'."],
    ],
    // The owner check words its refusal whatever role was missing.
    [
      "reader, another owner",
      READER,
      () => ({ owner: "proj-z" }),
      [403, other("proj-z")],
      [403, "You are not permitted to create images owned by 'proj-z'."],
    ],
    [
      "member, null owner",
      MEMBER,
      () => ({ owner: null }),
      [403, other("None")],
      [403, "You are not permitted to create images owned by 'None'."],
    ],
    ["member, community", MEMBER, () => ({ visibility: "community" }), 201, 201],
    ["reader, community", READER, () => ({ visibility: "community" }), [403, na("add_image")], 201],
    ["member, private", MEMBER, () => ({ visibility: "private" }), 201, 201],
    [
      "member, public",
      MEMBER,
      () => ({ visibility: "public" }),
      [403, na("publicize_image")],
      [403, na("publicize_image")],
    ],
    // add_image comes first.
    [
      "reader, public",
      READER,
      () => ({ visibility: "public" }),
      [403, na("add_image")],
      [403, na("publicize_image")],
    ],
    ["admin, public, another owner", ADMIN, () => ({ visibility: "public", owner: "proj-z" }), 201, 201],
  ];

  describe.each(["secure-rbac", "legacy"] as Mode[])("under %s", (mode) => {
    it.each(cases)("%s", async (_, roles, body, rbac, legacy) => {
      const me = project("me");
      const res = await call("POST", "/v2/images", {
        who: { project: me, roles },
        body: {
          name: "n",
          ...body(me),
        },
        vars: { POLICY_DEFAULTS: mode },
      });
      const want = mode === "secure-rbac" ? rbac : legacy;
      if (typeof want === "number") {
        expect(res.status, await res.clone().text()).toBe(want);
        const image = (await res.json()) as { owner: string | null };
        expect(image.owner).toBe("owner" in body(me) ? body(me).owner : me);
      } else {
        await expectError(res, want[0], want[1]);
      }
    });
  });

  it("read-only attributes and schema errors come before the rules", async () => {
    const me = { project: project("me"), roles: NONE };
    await expectError(
      await call("POST", "/v2/images", { who: me, body: { status: "active" } }),
      403,
      "Attribute 'status' is read-only.",
    );
    const bad = await call("POST", "/v2/images", { who: me, body: { visibility: "everyone" } });
    expect(bad.status).toBe(400);
  });
});

describe("GET /v2/images: get_images, then get_image for each image (docs/reference.md §11)", () => {
  async function ids(
    vars: Partial<Cloudflare.Env>,
    caller: { project: string; roles: string[] },
    query = "",
  ) {
    const res = await call("GET", `/v2/images?limit=1000${query}`, { who: caller, vars });
    expect(res.status, await res.clone().text()).toBe(200);
    return new Set(((await res.json()) as { images: { id: string }[] }).images.map((i) => i.id));
  }

  it("a caller without reader may not list under secure-rbac; under legacy it may", async () => {
    const me = project("me");
    const mine = await createImage(me);
    for (const roles of [NONE, ["member"]]) {
      await expectError(
        await call("GET", "/v2/images", { who: { project: me, roles } }),
        403,
        "You are not authorized to complete get_images action.",
      );
      expect((await ids({ POLICY_DEFAULTS: "legacy" }, { project: me, roles })).has(mine)).toBe(true);
    }
    for (const roles of [READER, MEMBER, ADMIN]) {
      expect((await ids({}, { project: me, roles })).has(mine), roles.join()).toBe(true);
    }
  });

  it("query errors come first; the rule before the marker is looked up", async () => {
    const me = { project: project("me"), roles: NONE };
    await expectError(
      await call("GET", "/v2/images?visibility=x", { who: me }),
      400,
      "Invalid visibility value: x",
    );
    await expectError(
      await call("GET", `/v2/images?marker=${crypto.randomUUID()}`, { who: me }),
      403,
      "You are not authorized to complete get_images action.",
    );
  });

  it("an overridden get_image filters the list as it answers GET (in SQL, same page size)", async () => {
    const me = project("me");
    const other = project("other");
    const mine = await createImage(me, { visibility: "private" });
    const theirs = await createImage(other, { visibility: "public", owner: other }, ["admin"]);
    const shared = await createImage(other, { visibility: "shared" });
    await addMember(other, shared, me);
    await as(me).put(`/v2/images/${shared}/members/${me}`, { status: "accepted" });
    const vars = { POLICY_OVERRIDES: JSON.stringify({ get_image: "role:reader and project_id:%(owner)s" }) };
    const seen = await ids(vars, { project: me, roles: MEMBER });
    expect([seen.has(mine), seen.has(theirs), seen.has(shared)]).toEqual([true, false, false]);
    const plain = await ids({}, { project: me, roles: MEMBER });
    expect([plain.has(mine), plain.has(theirs), plain.has(shared)]).toEqual([true, true, true]);
    await expectError(
      await call("GET", `/v2/images/${theirs}`, { who: { project: me, roles: MEMBER }, vars }),
      404,
      "The resource could not be found.",
    );
    // A property of the image works as a target key too (an extra property, here).
    const tagged = await createImage(me, { os_distro: "debian" });
    const byProp = { POLICY_OVERRIDES: JSON.stringify({ get_image: "'debian':%(os_distro)s" }) };
    const distro = await ids(byProp, { project: me, roles: MEMBER });
    expect([distro.has(tagged), distro.has(mine)]).toEqual([true, false]);
  });

  it("legacy: owners with no role list their images and members theirs", async () => {
    const owner = project("owner");
    const member = project("member");
    const id = await createImage(owner);
    await addMember(owner, id, member);
    const vars = { POLICY_DEFAULTS: "legacy" };
    expect((await ids(vars, { project: owner, roles: NONE })).has(id)).toBe(true);
    expect((await ids(vars, { project: member, roles: NONE }, "&member_status=all")).has(id)).toBe(true);
  });
});

describe("POLICY_OVERRIDES on image routes", () => {
  const ADMIN_ONLY = { POLICY_OVERRIDES: JSON.stringify({ modify_image: "rule:context_is_admin" }) };

  it.each(["secure-rbac", "legacy"] as Mode[])(
    "modify_image admin-only (%s): owners get 403 on PATCH and tags; admins pass",
    async (mode) => {
      const vars = { ...ADMIN_ONLY, POLICY_DEFAULTS: mode };
      const owner = project("owner");
      const id = await createImage(owner, { tags: ["a"] });
      const rename = [{ op: "replace", path: "/name", value: "x" }];
      const na = "You are not authorized to complete modify_image action.";
      for (const roles of [MEMBER, NONE]) {
        const me = { project: owner, roles };
        // A caller hidden by get_image gets the bare 404 (only secure-rbac hides an owner without roles).
        const status = mode === "secure-rbac" && roles.length === 0 ? 404 : 403;
        const text = status === 404 ? "The resource could not be found." : na;
        await expectError(
          await call("PATCH", `/v2/images/${id}`, { who: me, body: rename, type: JSON_PATCH, vars }),
          status,
          text,
        );
        await expectError(await call("PUT", `/v2/images/${id}/tags/b`, { who: me, vars }), status, text);
        await expectError(await call("DELETE", `/v2/images/${id}/tags/a`, { who: me, vars }), status, text);
      }
      const adm = { project: project("admin"), roles: ["admin"] };
      expect(
        (await call("PATCH", `/v2/images/${id}`, { who: adm, body: rename, type: JSON_PATCH, vars })).status,
      ).toBe(200);
      expect((await call("PUT", `/v2/images/${id}/tags/b`, { who: adm, vars })).status).toBe(204);
      // Other rules keep their defaults.
      expect(
        (await call("DELETE", `/v2/images/${id}`, { who: { project: owner, roles: MEMBER }, vars })).status,
      ).toBe(204);
    },
  );

  it("a rule on an image property: only images marked so may be deactivated", async () => {
    const vars = {
      POLICY_OVERRIDES: JSON.stringify({ deactivate: "role:member and 'yes':%(deactivatable)s" }),
    };
    const owner = project("owner");
    const me = { project: owner, roles: MEMBER };
    const data = { raw: new Uint8Array([1]) };
    const ids = [
      await createImage(owner, { disk_format: "raw", container_format: "bare" }),
      await createImage(owner, { disk_format: "raw", container_format: "bare", deactivatable: "yes" }),
    ];
    for (const id of ids) {
      const up = await call("PUT", `/v2/images/${id}/file`, {
        who: me,
        raw: data.raw,
        type: "application/octet-stream",
      });
      expect(up.status).toBe(204);
    }
    await expectError(
      await call("POST", `/v2/images/${ids[0]}/actions/deactivate`, { who: me, vars }),
      403,
      "You are not authorized to complete deactivate action.",
    );
    expect((await call("POST", `/v2/images/${ids[1]}/actions/deactivate`, { who: me, vars })).status).toBe(
      204,
    );
  });
});

describe("the write carries its rule (docs/reference.md §11 Atomic)", () => {
  it("a PATCH whose membership goes between read and write does not write", async () => {
    // Members may modify here, so the rule depends on a row a concurrent request can delete.
    const load = loadPolicy(
      "secure-rbac",
      JSON.stringify({ modify_image: "role:member and project_id:%(member_id)s" }),
    );
    if (!load.ok) throw new Error(load.error);
    const owner = project("owner");
    const member = project("member");
    const id = await createImage(owner);
    await addMember(owner, id, member);
    const creds = credentialsOf(makeCaller(member, "u", MEMBER), load.policy);
    const az = authorizer(load.policy, creds);
    const image = await readImage(env.DB, member, id);
    if (!image) throw new Error("not read");
    const steps = [...PATCH_READ, ...changeSteps("replace", "name", "x", image.owner)];
    expect(az.refusal(steps, image, { image: id })).toBeNull();
    // Meanwhile the owner removes the membership.
    await env.DB.prepare("DELETE FROM image_members WHERE image_id = ?1 AND member_id = ?2")
      .bind(id, member)
      .run();
    const doc = { ...documentOf(image), name: "x" } as ReturnType<typeof documentOf>;
    expect(await updateImage(env.DB, id, image.revision, doc, az.guard(steps))).toBeNull();
    // Read again, the rules now refuse, as the route answers on its retry.
    const again = await readImage(env.DB, member, id);
    expect(az.refusal(steps, again, { image: id })?.status).toBe(404);
    // With the membership in place the same write goes through.
    await addMember(owner, id, member);
    const fresh = await readImage(env.DB, member, id);
    expect(await updateImage(env.DB, id, fresh?.revision ?? -1, doc, az.guard(steps))).not.toBeNull();
  });
});

describe("PATCH: Glance's order of checks", () => {
  it("the request's own errors come before the image and its rules (Glance's deserializer)", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    const stranger = { project: project("s"), roles: MEMBER };
    const reader = { project: owner, roles: READER };
    for (const caller of [stranger, reader]) {
      await expectError(
        await call("PATCH", `/v2/images/${id}`, {
          who: caller,
          body: [{ op: "replace", path: "/status", value: "active" }],
          type: JSON_PATCH,
        }),
        403,
        "Attribute 'status' is read-only.",
      );
      const bad = await call("PATCH", `/v2/images/${id}`, {
        who: caller,
        body: [{ op: "replace", path: "/min_ram", value: "x" }],
        type: JSON_PATCH,
      });
      expect(bad.status).toBe(400);
    }
  });

  it("each change's rules are asked just before it applies, in order", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    const me = { project: owner, roles: MEMBER };
    // The first change fails as it applies, before the second one's rule is asked.
    await expectError(
      await call("PATCH", `/v2/images/${id}`, {
        who: me,
        body: [
          { op: "replace", path: "/nothing", value: "x" },
          { op: "replace", path: "/visibility", value: "public" },
        ],
        type: JSON_PATCH,
      }),
      409,
      "Property nothing does not exist.",
    );
    await expectError(
      await call("PATCH", `/v2/images/${id}`, {
        who: me,
        body: [
          { op: "replace", path: "/visibility", value: "public" },
          { op: "replace", path: "/nothing", value: "x" },
        ],
        type: JSON_PATCH,
      }),
      403,
      "You are not authorized to complete publicize_image action.",
    );
  });

  it("only an admin gives an image away, by replace or add; an add of the same owner is a no-op", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    const me = { project: owner, roles: MEMBER };
    for (const op of ["replace", "add"]) {
      await expectError(
        await call("PATCH", `/v2/images/${id}`, {
          who: me,
          body: [{ op, path: "/owner", value: "proj-z" }],
          type: JSON_PATCH,
        }),
        403,
        "Owner can't be updated by non admin.",
      );
    }
    expect(
      (
        await call("PATCH", `/v2/images/${id}`, {
          who: me,
          body: [{ op: "add", path: "/owner", value: owner }],
          type: JSON_PATCH,
        })
      ).status,
    ).toBe(200);
    const adm = { project: project("admin"), roles: ADMIN };
    const res = await call("PATCH", `/v2/images/${id}`, {
      who: adm,
      body: [{ op: "replace", path: "/owner", value: "proj-z" }],
      type: JSON_PATCH,
    });
    expect(((await res.json()) as { owner: string }).owner).toBe("proj-z");
    // An admin still passes through modify_image, as in Glance.
    const locked = { POLICY_OVERRIDES: JSON.stringify({ modify_image: "!" }) };
    await expectError(
      await call("PATCH", `/v2/images/${id}`, {
        who: adm,
        body: [{ op: "replace", path: "/owner", value: owner }],
        type: JSON_PATCH,
        vars: locked,
      }),
      403,
      "You are not authorized to complete modify_image action.",
    );
  });

  it("an empty patch writes nothing and answers the image", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    const before = await env.DB.prepare("SELECT updated_at, revision FROM images WHERE id = ?1")
      .bind(id)
      .first();
    const res = await call("PATCH", `/v2/images/${id}`, {
      who: { project: owner, roles: READER },
      body: [],
      type: JSON_PATCH,
    });
    expect(res.status).toBe(200);
    expect(
      await env.DB.prepare("SELECT updated_at, revision FROM images WHERE id = ?1").bind(id).first(),
    ).toEqual(before);
  });
});
