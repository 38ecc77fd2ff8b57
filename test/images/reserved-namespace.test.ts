import { describe, expect, it } from "vitest";
import { addMember, admin, as, call, createImage, dump, expectError, project } from "../helpers";

/**
 * docs/reference.md §8: properties in Glance's reserved namespace `os_glance` (import state, staging host,
 * …, which clients trust as Glance's own) are refused from every caller, on create and on every
 * PATCH form: 403 `Attribute '<name>' is reserved.`. As in Glance's request deserializer
 * (glance/api/v2/images.py RequestDeserializer.create / _validate_change), the check comes
 * before the image is looked up and before any rule: on create after the schema, on PATCH per
 * change after the read-only and reserved names.
 */

const reserved = (key: string) => `Attribute '${key}' is reserved.`;
const V21 = "application/openstack-images-v2.1-json-patch";
const V20 = "application/openstack-images-v2.0-json-patch";

function patch(p: string, roles: string[], path: string, ops: unknown, type = V21) {
  return call("PATCH", path, { who: { project: p, roles }, body: ops, headers: { "Content-Type": type } });
}

describe("POST /v2/images with os_glance_*", () => {
  it("403 reserved, nothing written, for members and admins alike", async () => {
    const before = await dump();
    await expectError(
      await as(project()).post("/v2/images", { name: "x", os_glance_x: "v" }),
      403,
      reserved("os_glance_x"),
    );
    // Tempest's test_create_image_reserved_property body.
    await expectError(
      await as(project()).post("/v2/images", {
        name: "test",
        container_format: "bare",
        disk_format: "raw",
        os_glance_foo: "bar",
      }),
      403,
      reserved("os_glance_foo"),
    );
    await expectError(
      await admin().post("/v2/images", { os_glance_import_task: "t" }),
      403,
      reserved("os_glance_import_task"),
    );
    expect(await dump()).toBe(before);
  });

  it("the namespace is the prefix `os_glance`, case-sensitive, as Glance compares it", async () => {
    await expectError(
      await as(project()).post("/v2/images", { os_glancefoo: "v" }),
      403,
      reserved("os_glancefoo"),
    );
    await expectError(await as(project()).post("/v2/images", { os_glance: "v" }), 403, reserved("os_glance"));
    const res = await as(project()).post("/v2/images", {
      OS_GLANCE_x: "v",
      xos_glance_y: "w",
      os_glanc: "z",
    });
    expect(res.status, await res.clone().text()).toBe(201);
    expect(await res.json()).toMatchObject({ OS_GLANCE_x: "v", xos_glance_y: "w", os_glanc: "z" });
  });

  it("order: the schema's 400 first, then reserved before any rule (publicize, owner)", async () => {
    // A non-string value breaks the schema before the name is looked at.
    const bad = await as(project()).post("/v2/images", { os_glance_x: 1 });
    expect(bad.status).toBe(400);
    // Before publicize_image and the owner check: the name decides.
    await expectError(
      await as(project()).post("/v2/images", { visibility: "public", os_glance_x: "v" }),
      403,
      reserved("os_glance_x"),
    );
    await expectError(
      await as(project()).post("/v2/images", { owner: "somebody-else", os_glance_x: "v" }),
      403,
      reserved("os_glance_x"),
    );
    // A caller with no role at all still hears the same.
    await expectError(
      await as(project(), ["reader"]).post("/v2/images", { os_glance_x: "v" }),
      403,
      reserved("os_glance_x"),
    );
    // The first reserved name in the body is the one named.
    await expectError(
      await as(project()).post("/v2/images", { a: "1", os_glance_b: "2", os_glance_a: "3" }),
      403,
      reserved("os_glance_b"),
    );
  });
});

describe("PATCH /v2/images/{id} with os_glance_*", () => {
  async function fixture() {
    const owner = project("owner");
    const id = await createImage(owner, { os_distro: "debian" });
    return { owner, id };
  }

  for (const op of ["add", "replace", "remove"] as const) {
    const change = (key: string) =>
      op === "remove" ? { op, path: `/${key}` } : { op, path: `/${key}`, value: "v" };
    const changeV20 = (key: string) =>
      op === "remove" ? { [op]: `/${key}` } : { [op]: `/${key}`, value: "v" };

    it(`v2.1 ${op}: 403 reserved, the image unchanged`, async () => {
      const { owner, id } = await fixture();
      const before = await dump();
      await expectError(
        await patch(owner, ["member", "reader"], `/v2/images/${id}`, [change("os_glance_x")]),
        403,
        reserved("os_glance_x"),
      );
      expect(await dump()).toBe(before);
    });

    it(`v2.0 ${op}: 403 reserved, the image unchanged`, async () => {
      const { owner, id } = await fixture();
      const before = await dump();
      await expectError(
        await patch(owner, ["member", "reader"], `/v2/images/${id}`, [changeV20("os_glance_x")], V20),
        403,
        reserved("os_glance_x"),
      );
      expect(await dump()).toBe(before);
    });
  }

  it("Tempest's test_update_image_reserved_property (v2.0 add of /os_glance_foo): 403", async () => {
    const { owner, id } = await fixture();
    await expectError(
      await patch(
        owner,
        ["member", "reader"],
        `/v2/images/${id}`,
        [{ add: "/os_glance_foo", value: "bar" }],
        V20,
      ),
      403,
      reserved("os_glance_foo"),
    );
  });

  it("a reserved change anywhere in the patch refuses the whole patch; admins too", async () => {
    const { id } = await fixture();
    const before = await dump();
    const a = admin();
    await expectError(
      await patch(a.who.project as string, ["admin", "member"], `/v2/images/${id}`, [
        { op: "replace", path: "/name", value: "renamed" },
        { op: "add", path: "/os_glance_importing_to_stores", value: "" },
      ]),
      403,
      reserved("os_glance_importing_to_stores"),
    );
    expect(await dump()).toBe(before);
  });

  it("before the image lookup and the rules: the same 403 on an unknown or invisible image", async () => {
    const { id } = await fixture();
    // Somebody who may not see the image, and an image that does not exist.
    for (const path of [`/v2/images/${id}`, `/v2/images/${crypto.randomUUID()}`]) {
      await expectError(
        await patch(project("stranger"), ["member", "reader"], path, [
          { op: "add", path: "/os_glance_x", value: "v" },
        ]),
        403,
        reserved("os_glance_x"),
      );
    }
    // A member, who may not modify the image, also hears about the name first.
    const { owner, id: shared } = await fixture();
    const m = project("member");
    await addMember(owner, shared, m);
    await expectError(
      await patch(m, ["member", "reader"], `/v2/images/${shared}`, [{ op: "remove", path: "/os_glance_x" }]),
      403,
      reserved("os_glance_x"),
    );
  });

  it("order within one change: read-only and reserved names first; the value's schema after", async () => {
    const { owner, id } = await fixture();
    await expectError(
      await patch(owner, ["member", "reader"], `/v2/images/${id}`, [
        { op: "add", path: "/os_glance_x", value: 5 },
      ]),
      403,
      reserved("os_glance_x"),
    );
    // Changes are checked in order: an earlier read-only change answers first.
    await expectError(
      await patch(owner, ["member", "reader"], `/v2/images/${id}`, [
        { op: "replace", path: "/status", value: "active" },
        { op: "add", path: "/os_glance_x", value: "v" },
      ]),
      403,
      "Attribute 'status' is read-only.",
    );
  });

  it("other properties are patched as before", async () => {
    const { owner, id } = await fixture();
    const res = await patch(owner, ["member", "reader"], `/v2/images/${id}`, [
      { op: "add", path: "/glance_os_x", value: "v" },
      { op: "replace", path: "/os_distro", value: "ubuntu" },
    ]);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toMatchObject({ glance_os_x: "v", os_distro: "ubuntu" });
  });
});
