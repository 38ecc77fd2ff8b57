import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { addMember, admin, as, call, createImage, dump, expectError, project } from "../helpers";

type Image = Record<string, unknown> & { id: string };
const KEYS = [
  "name",
  "disk_format",
  "container_format",
  "visibility",
  "size",
  "virtual_size",
  "status",
  "checksum",
  "protected",
  "min_ram",
  "min_disk",
  "owner",
  "os_hidden",
  "os_hash_algo",
  "os_hash_value",
  "id",
  "created_at",
  "updated_at",
  "tags",
  "self",
  "file",
  "schema",
];

describe("POST /v2/images (docs/reference.md §8)", () => {
  it("201, Location, defaults, keys in order with custom properties first", async () => {
    const owner = project("owner");
    const res = await as(owner).post("/v2/images", { name: "cirros", os_distro: "cirros", hw_x: "1" });
    expect(res.status).toBe(201);
    const body = (await res.json()) as Image;
    expect(res.headers.get("Location")).toBe(`http://glance.test/v2/images/${body.id}`);
    expect(Object.keys(body)).toEqual(["os_distro", "hw_x", ...KEYS]);
    expect(body).toMatchObject({
      name: "cirros",
      visibility: "shared",
      status: "queued",
      size: null,
      virtual_size: null,
      checksum: null,
      protected: false,
      min_ram: 0,
      min_disk: 0,
      owner,
      os_hidden: false,
      tags: [],
      self: `/v2/images/${body.id}`,
      file: `/v2/images/${body.id}/file`,
      schema: "/v2/schemas/image",
    });
    expect(body.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(body.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  });

  it("an empty object is a valid image; a client may choose the id (canonicalised)", async () => {
    expect((await as(project()).post("/v2/images", {})).status).toBe(201);
    const id = crypto.randomUUID();
    const res = await as(project()).post("/v2/images", { id: id.toUpperCase() });
    expect(((await res.json()) as Image).id).toBe(id);
    await expectError(
      await as(project()).post("/v2/images", { id }),
      409,
      `Image with identifier ${id} already exists!`,
    );
  });

  it("non-admins may not publicise or give images away; admins may", async () => {
    const me = project("me");
    await expectError(
      await as(me).post("/v2/images", { visibility: "public" }),
      403,
      "You are not authorized to complete publicize_image action.",
    );
    const res = await as(me).post("/v2/images", { owner: "someone-else" });
    expect(res.status).toBe(403);
    expect((await as(me).post("/v2/images", { owner: me })).status).toBe(201);
    for (const visibility of ["community", "private", "shared"]) {
      expect((await as(me).post("/v2/images", { visibility })).status).toBe(201);
    }
    const pub = await admin().post("/v2/images", { visibility: "public", owner: "other" });
    expect(pub.status).toBe(201);
    expect(((await pub.json()) as Image).owner).toBe("other");
  });

  it("read-only attributes are 403, reserved ones too", async () => {
    for (const key of [
      "status",
      "size",
      "checksum",
      "created_at",
      "self",
      "file",
      "schema",
      "os_hash_value",
    ]) {
      await expectError(
        await as(project()).post("/v2/images", { [key]: "x" }),
        403,
        `Attribute '${key}' is read-only.`,
      );
    }
    await expectError(
      await as(project()).post("/v2/images", { deleted: true }),
      403,
      "Attribute 'deleted' is reserved.",
    );
  });

  it("values violating the image schema are 400", async () => {
    const before = await dump();
    for (const body of [
      { visibility: "everyone" },
      { name: "x".repeat(256) },
      { protected: "yes" },
      { min_ram: -1 },
      { min_disk: 1.5 },
      { tags: "a" },
      { tags: [1] },
      { disk_format: "exe" },
      { custom: 5 },
      { kernel_id: "not-a-uuid" },
    ]) {
      const res = await as(project()).post("/v2/images", body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(((await res.json()) as { message: string }).message).toMatch(
        /^Provided object does not match schema 'image'/,
      );
    }
    await expectError(
      await call("POST", "/v2/images", { who: { project: "p" }, raw: "[1]" }),
      400,
      "Provided object does not match schema 'image': the body must be a JSON object",
    );
    expect(await dump()).toBe(before);
  });
});

describe("GET /v2/images/{id} (docs/reference.md §8, §4)", () => {
  it("owner, members in any status and admins see it; strangers get 404", async () => {
    const owner = project("owner");
    const member = project("member");
    for (const visibility of ["shared", "private"]) {
      const id = await createImage(owner, { visibility });
      await addMember(owner, id, member);
      for (const who of [as(owner), as(member), admin()])
        expect((await who.get(`/v2/images/${id}`)).status).toBe(200);
      await expectError(await as(project()).get(`/v2/images/${id}`), 404, `No image found with ID ${id}`);
    }
    await expectError(await as(owner).get("/v2/images/nope"), 404, "No image found with ID nope");
  });

  it("public and community images are visible to everyone", async () => {
    for (const visibility of ["public", "community"]) {
      const id = await createImage(project(), { visibility }, ["admin"]);
      expect((await as(project()).get(`/v2/images/${id}`)).status).toBe(200);
    }
  });
});

describe("PATCH /v2/images/{id} (docs/reference.md §8)", () => {
  const patch = (who: ReturnType<typeof as>, id: string, ops: unknown[]) =>
    who.patch(`/v2/images/${id}`, ops);

  it("add, replace and remove writable fields and custom properties", async () => {
    const owner = project("owner");
    const id = await createImage(owner, { name: "before", extra: "x" });
    const res = await patch(as(owner), id, [
      { op: "replace", path: "/name", value: "after" },
      { op: "add", path: "/os_distro", value: "debian" },
      { op: "remove", path: "/extra" },
      { op: "replace", path: "/tags", value: ["a", "b", "a"] },
      { op: "replace", path: "/visibility", value: "private" },
      { op: "add", path: "/min_ram", value: 512 },
    ]);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Image;
    expect(body).toMatchObject({
      name: "after",
      os_distro: "debian",
      tags: ["a", "b"],
      visibility: "private",
      min_ram: 512,
    });
    expect(body).not.toHaveProperty("extra");
    expect(Object.keys(body)[0]).toBe("os_distro");
  });

  it("other content types: 415 with Accept-Patch", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    const res = await call("PATCH", `/v2/images/${id}`, { who: { project: owner }, body: [] });
    expect(res.status).toBe(415);
    expect(res.headers.get("Accept-Patch")).toContain("application/openstack-images-v2.1-json-patch");
    const v20 = await call("PATCH", `/v2/images/${id}`, {
      who: { project: owner },
      raw: "[]",
      headers: { "Content-Type": "application/openstack-images-v2.0-json-patch" },
    });
    expect(v20.status).toBe(200);
  });

  it('the v2.0 media type takes Glance\'s older {"<op>": "<path>"} changes', async () => {
    const owner = project("owner");
    const id = await createImage(owner, { name: "before", gone: "x" });
    const v20 = (body: unknown) =>
      call("PATCH", `/v2/images/${id}`, {
        who: { project: owner },
        raw: JSON.stringify(body),
        headers: { "Content-Type": "application/openstack-images-v2.0-json-patch" },
      });
    const res = await v20([
      { replace: "/name", value: "after" },
      { add: "/os_distro", value: "debian" },
      { remove: "/gone" },
    ]);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Image;
    expect(body).toMatchObject({ name: "after", os_distro: "debian" });
    expect(body).not.toHaveProperty("gone");
    const before = await dump();
    await expectError(
      await v20([{}]),
      400,
      'Operation objects must contain exactly one member named "add", "remove", or "replace".',
    );
    await expectError(
      await v20([{ add: "/a", remove: "/b", value: "1" }]),
      400,
      'Operation objects must contain only one member named "add", "remove", or "replace".',
    );
    await expectError(
      await v20([{ op: "replace", path: "/name", value: "x" }]),
      400,
      'Operation objects must contain exactly one member named "add", "remove", or "replace".',
    );
    await expectError(await v20([{ add: "/name" }]), 400, 'Operation "add" requires a member named "value".');
    expect(await dump()).toBe(before);
  });

  it("v2.1 changes are checked with Glance's messages", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    const before = await dump();
    const ops: [unknown, string][] = [
      [{ a: 1 }, "Request body must be a JSON array of operation objects."],
      [[1], "Operations must be JSON objects."],
      [
        [{ path: "/name", value: "x" }],
        "Unable to find `op` in JSON Schema change. It must be one of the following: add, remove, replace.",
      ],
      [
        [{ op: "move", path: "/name" }],
        "Invalid operation: `move`. It must be one of the following: add, remove, replace.",
      ],
      [[{ op: "replace", path: "/name" }], 'Operation "replace" requires a member named "value".'],
      [[{ op: "replace", path: "/a/b", value: 1 }], "Nested paths are not allowed"],
    ];
    for (const [body, message] of ops)
      await expectError(await as(owner).patch(`/v2/images/${id}`, body), 400, message);
    expect(await dump()).toBe(before);
  });

  it("members may read but not PATCH: 403 (modify_image); strangers 404", async () => {
    const owner = project("owner");
    const member = project("member");
    const id = await createImage(owner);
    await addMember(owner, id, member);
    const before = await dump();
    await expectError(
      await patch(as(member), id, [{ op: "replace", path: "/name", value: "x" }]),
      403,
      "You are not authorized to complete modify_image action.",
    );
    await expectError(
      await patch(as(project()), id, [{ op: "replace", path: "/name", value: "x" }]),
      404,
      `No image found with ID ${id}`,
    );
    expect(await dump()).toBe(before);
  });

  it("publicising needs admin; read-only fields are 403; bad values 400", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    await expectError(
      await patch(as(owner), id, [{ op: "replace", path: "/visibility", value: "public" }]),
      403,
      "You are not authorized to complete publicize_image action.",
    );
    await expectError(
      await patch(as(owner), id, [{ op: "replace", path: "/status", value: "active" }]),
      403,
      "Attribute 'status' is read-only.",
    );
    expect((await patch(as(owner), id, [{ op: "replace", path: "/min_disk", value: "big" }])).status).toBe(
      400,
    );
    expect((await patch(admin(), id, [{ op: "replace", path: "/visibility", value: "public" }])).status).toBe(
      200,
    );
  });
});

describe("DELETE /v2/images/{id} (docs/reference.md §8)", () => {
  it("204 for the owner; its memberships go with it", async () => {
    const owner = project("owner");
    const member = project("member");
    const id = await createImage(owner);
    await addMember(owner, id, member);
    const res = await as(owner).delete(`/v2/images/${id}`);
    expect(res.status).toBe(204);
    await expectError(await as(member).get(`/v2/images/${id}/members`), 404, `Image ${id} not found.`);
    await expectError(await as(owner).get(`/v2/images/${id}`), 404, `No image found with ID ${id}`);
    // Image and memberships are gone; only the audit trail remembers them (docs/reference.md §12.4).
    const rows = await env.DB.prepare(
      "SELECT (SELECT COUNT(*) FROM images WHERE id = ?1) AS images, (SELECT COUNT(*) FROM image_members WHERE image_id = ?1) AS members",
    )
      .bind(id)
      .first();
    expect(rows).toStrictEqual({ images: 0, members: 0 });
  });

  it("protected images: 403; members 403 (delete_image); strangers 404", async () => {
    const owner = project("owner");
    const member = project("member");
    const id = await createImage(owner, { protected: true });
    await addMember(owner, id, member);
    await expectError(
      await as(owner).delete(`/v2/images/${id}`),
      403,
      `Image ${id} is protected and cannot be deleted.`,
    );
    const other = await createImage(owner);
    await addMember(owner, other, member);
    await expectError(
      await as(member).delete(`/v2/images/${other}`),
      403,
      "You are not authorized to complete delete_image action.",
    );
    await expectError(
      await as(project()).delete(`/v2/images/${other}`),
      404,
      `Failed to find image ${other} to delete`,
    );
    expect((await admin().delete(`/v2/images/${other}`)).status).toBe(204);
  });
});
