import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { addMember, admin, as, createImage, expectError, project } from "../helpers";

type MemberList = { members: Record<string, string>[]; schema: string };

describe("GET /v2/images/{image_id}/members (docs/reference.md §5.2)", () => {
  it("owner and admin see every member, ordered by created_at then member_id", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    for (const m of ["charlie", "alpha", "bravo"]) await addMember(owner, id, m);
    for (const who of [as(owner), admin()]) {
      const res = await who.get(`/v2/images/${id}/members`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as MemberList;
      expect(Object.keys(body)).toEqual(["members", "schema"]);
      expect(body.schema).toBe("/v2/schemas/members");
      // Added within one second here: created_at ties fall back to member_id.
      const sorted = [...body.members].sort((a, b) =>
        `${a.created_at}${a.member_id}`.localeCompare(`${b.created_at}${b.member_id}`),
      );
      expect(body.members).toEqual(sorted);
      expect(body.members.map((m) => m.member_id).sort()).toEqual(["alpha", "bravo", "charlie"]);
      for (const m of body.members) {
        expect(Object.keys(m)).toEqual([
          "member_id",
          "image_id",
          "status",
          "created_at",
          "updated_at",
          "schema",
        ]);
        expect(m.image_id).toBe(id);
      }
    }
  });

  it("created_at orders before member_id, and an expired row is left out (one JSON row from D1)", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    for (const m of ["alpha", "bravo", "charlie", "delta"]) await addMember(owner, id, m);
    // Times set apart against the ids' order; delta expired a year ago.
    const at = (member: string, t: string, expires: string | null = null) =>
      env.DB.prepare(
        "UPDATE image_members SET created_at = ?3, expires_at = ?4 WHERE image_id = ?1 AND member_id = ?2",
      ).bind(id, member, t, expires);
    await env.DB.batch([
      at("alpha", "2030-01-03T00:00:00Z"),
      at("bravo", "2030-01-01T00:00:00Z"),
      at("charlie", "2030-01-02T00:00:00Z"),
      at("delta", "2020-01-01T00:00:00Z", "2025-01-01T00:00:00Z"),
    ]);
    const body = (await (await as(owner).get(`/v2/images/${id}/members`)).json()) as MemberList;
    expect(body.members.map((m) => [m.member_id, m.created_at])).toEqual([
      ["bravo", "2030-01-01T00:00:00Z"],
      ["charlie", "2030-01-02T00:00:00Z"],
      ["alpha", "2030-01-03T00:00:00Z"],
    ]);
  });

  it("a member sees only its own row, whatever its status", async () => {
    const owner = project("owner");
    const me = project("me");
    const id = await createImage(owner);
    await addMember(owner, id, "someone-else");
    await addMember(owner, id, me);
    for (const status of ["pending", "accepted", "rejected"]) {
      if (status !== "pending") await as(me).put(`/v2/images/${id}/members/${me}`, { status });
      const body = (await (await as(me).get(`/v2/images/${id}/members`)).json()) as MemberList;
      expect(body.members).toHaveLength(1);
      expect(body.members[0]).toMatchObject({ member_id: me, status });
    }
  });

  it("an image without members lists none", async () => {
    const owner = project("owner");
    const id = await createImage(owner, { visibility: "private" });
    expect(await (await as(owner).get(`/v2/images/${id}/members`)).json()).toStrictEqual({
      members: [],
      schema: "/v2/schemas/members",
    });
  });

  it("404 for unknown, malformed and invisible images", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    await expectError(await as(project()).get(`/v2/images/${id}/members`), 404, `Image ${id} not found.`);
    const unknown = crypto.randomUUID();
    await expectError(
      await as(owner).get(`/v2/images/${unknown}/members`),
      404,
      `Image ${unknown} not found.`,
    );
    await expectError(await as(owner).get("/v2/images/xyz/members"), 404, "Image xyz not found.");
  });

  it("403 for public and community images", async () => {
    for (const visibility of ["public", "community"]) {
      const owner = project("owner");
      const id = await createImage(owner, { visibility, owner }, ["admin"]);
      for (const who of [as(owner), as(project()), admin()]) {
        await expectError(
          await who.get(`/v2/images/${id}/members`),
          403,
          `Not allowed to list members for image ${id}: Only shared images have members.`,
        );
      }
    }
  });

  it("image ids are case-insensitive UUIDs; messages echo the id as sent", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    await addMember(owner, id, "m");
    const res = await as(owner).get(`/v2/images/${id.toUpperCase()}/members`);
    expect(res.status).toBe(200);
  });
});

describe("GET /v2/images/{image_id}/members/{member_id} (docs/reference.md §5.3)", () => {
  it("owner, that member and admin read the row", async () => {
    const owner = project("owner");
    const member = project("member");
    const id = await createImage(owner);
    const added = await addMember(owner, id, member);
    for (const who of [as(owner), as(member), admin()]) {
      const res = await who.get(`/v2/images/${id}/members/${member}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toStrictEqual(added);
    }
  });

  it("a member asking about another member's row: 404, as if it did not exist", async () => {
    const owner = project("owner");
    const me = project("me");
    const other = project("other");
    const id = await createImage(owner);
    await addMember(owner, id, me);
    await addMember(owner, id, other);
    await expectError(
      await as(me).get(`/v2/images/${id}/members/${other}`),
      404,
      `${other} not found in the member list of the image ${id}.`,
    );
    await expectError(
      await as(me).get(`/v2/images/${id}/members/nobody`),
      404,
      `nobody not found in the member list of the image ${id}.`,
    );
  });

  it("no such member: 404 with the member id as sent, percent-decoded", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    await expectError(
      await as(owner).get(`/v2/images/${id}/members/a%20b`),
      404,
      `a b not found in the member list of the image ${id}.`,
    );
    const long = "y".repeat(300);
    await expectError(
      await as(owner).get(`/v2/images/${id}/members/${long}`),
      404,
      `${long} not found in the member list of the image ${id}.`,
    );
  });

  it("public or community image: 404 Only shared images have members.", async () => {
    for (const visibility of ["public", "community"]) {
      const owner = project("owner");
      const id = await createImage(owner, { visibility, owner }, ["admin"]);
      await expectError(
        await as(owner).get(`/v2/images/${id}/members/x`),
        404,
        "Only shared images have members.",
      );
    }
  });

  it("invisible image: 404 Image not found, even for a member id that exists", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    await addMember(owner, id, "m");
    await expectError(await as(project()).get(`/v2/images/${id}/members/m`), 404, `Image ${id} not found.`);
  });
});
