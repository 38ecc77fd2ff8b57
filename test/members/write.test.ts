import { describe, expect, it } from "vitest";
import { addMember, admin, as, call, createImage, dump, expectError, LEGACY, project } from "../helpers";

const INVALID_STATUS = 'Incorrect request: Status must be "pending", "accepted" or "rejected".';

async function sharedWith(member: string, visibility = "shared") {
  const owner = project("owner");
  const id = await createImage(owner, { visibility });
  await addMember(owner, id, member);
  return { owner, id };
}

describe("PUT /v2/images/{image_id}/members/{member_id} (docs/reference.md §5.4)", () => {
  it("the member sets any status, any transition; updated_at moves, created_at stays", async () => {
    const member = project("member");
    const { owner, id } = await sharedWith(member);
    const created = (await (await as(owner).get(`/v2/images/${id}/members/${member}`)).json()) as Record<
      string,
      string
    >;
    for (const status of ["accepted", "rejected", "pending", "pending", "accepted"]) {
      const res = await as(member).put(`/v2/images/${id}/members/${member}`, { status, member: "ignored" });
      expect(res.status).toBe(200);
      const body = (await res.json()) as Record<string, string>;
      expect(Object.keys(body)).toEqual([
        "member_id",
        "image_id",
        "status",
        "created_at",
        "updated_at",
        "schema",
      ]);
      expect(body).toMatchObject({ member_id: member, image_id: id, status, created_at: created.created_at });
      expect((body.updated_at as string) >= (created.updated_at as string)).toBe(true);
    }
    const row = (await (await as(owner).get(`/v2/images/${id}/members/${member}`)).json()) as Record<
      string,
      string
    >;
    expect(row.status).toBe("accepted");
  });

  it("an admin may set a member's status", async () => {
    const member = project("member");
    const { id } = await sharedWith(member);
    const res = await admin().put(`/v2/images/${id}/members/${member}`, { status: "rejected" });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe("rejected");
  });

  describe("step 1: body", () => {
    const cases: [string, string, string][] = [
      ["empty", "", "Body expected in request."],
      ["not JSON", "status=accepted", "Malformed JSON in request body."],
      ["array", '["accepted"]', 'Expected a status in the form: {"status": "status"}'],
      ["string", '"accepted"', 'Expected a status in the form: {"status": "status"}'],
      ["number", "1", 'Expected a status in the form: {"status": "status"}'],
      ["null", "null", 'Expected a status in the form: {"status": "status"}'],
      ["no status key", '{"member": "x"}', "Status not specified"],
    ];
    for (const [name, raw, message] of cases) {
      it(`${name}: 400 ${message}`, async () => {
        const member = project("member");
        const { id } = await sharedWith(member);
        const before = await dump();
        const res = await call("PUT", `/v2/images/${id}/members/${member}`, {
          who: { project: member },
          raw,
        });
        await expectError(res, 400, message);
        expect(await dump()).toBe(before);
      });
    }
  });

  it("step 6: a bad status is checked after the lookups", async () => {
    const member = project("member");
    const { owner, id } = await sharedWith(member);
    for (const status of [null, "ACCEPTED", "accepted ", "", 1, ["accepted"], { s: 1 }, "deleted"]) {
      const before = await dump();
      await expectError(
        await as(member).put(`/v2/images/${id}/members/${member}`, { status }),
        400,
        INVALID_STATUS,
      );
      expect(await dump()).toBe(before);
    }
    // ...so an invisible image is still 404 and the owner still 403 with a bad status.
    await expectError(
      await as(project()).put(`/v2/images/${id}/members/${member}`, { status: "x" }),
      404,
      `Image ${id} not found.`,
    );
    await expectError(
      await as(owner).put(`/v2/images/${id}/members/${member}`, { status: "x" }),
      403,
      "You are not authorized to complete modify_member action.",
    );
    await expectError(
      await as(owner, undefined, LEGACY).put(`/v2/images/${id}/members/${member}`, { status: "x" }),
      403,
      `Not allowed to update members for image ${id}.`,
    );
  });

  it("step 2: invisible or unknown image: 404", async () => {
    const member = project("member");
    const { id } = await sharedWith(member);
    await expectError(
      await as(project()).put(`/v2/images/${id}/members/${member}`, { status: "accepted" }),
      404,
      `Image ${id} not found.`,
    );
    const unknown = crypto.randomUUID();
    await expectError(
      await as(member).put(`/v2/images/${unknown}/members/${member}`, { status: "accepted" }),
      404,
      `Image ${unknown} not found.`,
    );
  });

  it("step 3: public or community image: 403", async () => {
    for (const visibility of ["public", "community"]) {
      const owner = project("owner");
      const id = await createImage(owner, { visibility, owner }, ["admin"]);
      for (const who of [as(project()), admin()]) {
        await expectError(
          await who.put(`/v2/images/${id}/members/x`, { status: "accepted" }),
          403,
          `Not allowed to update members for image ${id}.`,
        );
      }
    }
  });

  it("step 4 (legacy): the owner gets 403, even for a member id that does not exist", async () => {
    const member = project("member");
    const { owner, id } = await sharedWith(member);
    const before = await dump();
    for (const target of [member, "does-not-exist"]) {
      await expectError(
        await as(owner, undefined, LEGACY).put(`/v2/images/${id}/members/${target}`, { status: "accepted" }),
        403,
        `Not allowed to update members for image ${id}.`,
      );
    }
    expect(await dump()).toBe(before);
  });

  it("secure-rbac: the owner finds the row first (404 when missing), then modify_member refuses (403)", async () => {
    const member = project("member");
    const { owner, id } = await sharedWith(member);
    const before = await dump();
    await expectError(
      await as(owner).put(`/v2/images/${id}/members/does-not-exist`, { status: "accepted" }),
      404,
      `does-not-exist not found in the member list of the image ${id}.`,
    );
    await expectError(
      await as(owner).put(`/v2/images/${id}/members/${member}`, { status: "accepted" }),
      403,
      "You are not authorized to complete modify_member action.",
    );
    expect(await dump()).toBe(before);
  });

  it("step 5: another member's row or a missing row: 404", async () => {
    const me = project("me");
    const other = project("other");
    const { owner, id } = await sharedWith(me, "private");
    await addMember(owner, id, other);
    const before = await dump();
    await expectError(
      await as(me).put(`/v2/images/${id}/members/${other}`, { status: "accepted" }),
      404,
      `${other} not found in the member list of the image ${id}.`,
    );
    await expectError(
      await admin().put(`/v2/images/${id}/members/ghost`, { status: "accepted" }),
      404,
      `ghost not found in the member list of the image ${id}.`,
    );
    expect(await dump()).toBe(before);
  });
});

describe("DELETE /v2/images/{image_id}/members/{member_id} (docs/reference.md §5.5)", () => {
  it("owner and admin remove members: 204, empty body, row gone", async () => {
    for (const remover of ["owner", "admin"]) {
      const member = project("member");
      const { owner, id } = await sharedWith(member);
      const who = remover === "owner" ? as(owner) : admin();
      const res = await who.delete(`/v2/images/${id}/members/${member}`);
      expect(res.status).toBe(204);
      expect(await res.text()).toBe("");
      await expectError(
        await as(owner).get(`/v2/images/${id}/members/${member}`),
        404,
        `${member} not found in the member list of the image ${id}.`,
      );
      // The former member no longer sees the image at all.
      await expectError(await as(member).get(`/v2/images/${id}/members`), 404, `Image ${id} not found.`);
    }
  });

  it("a member may not remove itself: 403 (delete_member, or legacy's owner check)", async () => {
    const member = project("member");
    const { id } = await sharedWith(member);
    const before = await dump();
    await expectError(
      await as(member).delete(`/v2/images/${id}/members/${member}`),
      403,
      "You are not authorized to complete delete_member action.",
    );
    await expectError(
      await as(member, undefined, LEGACY).delete(`/v2/images/${id}/members/${member}`),
      403,
      `Not allowed to delete members for image ${id}.`,
    );
    expect(await dump()).toBe(before);
  });

  it("no such member: 404; invisible image: 404; public/community: 403", async () => {
    const member = project("member");
    const { owner, id } = await sharedWith(member);
    await expectError(
      await as(owner).delete(`/v2/images/${id}/members/ghost`),
      404,
      `ghost not found in the member list of the image ${id}.`,
    );
    await expectError(
      await as(project()).delete(`/v2/images/${id}/members/${member}`),
      404,
      `Image ${id} not found.`,
    );
    for (const visibility of ["public", "community"]) {
      const o = project("owner");
      const pub = await createImage(o, { visibility, owner: o }, ["admin"]);
      await expectError(
        await as(o).delete(`/v2/images/${pub}/members/x`),
        403,
        `Not allowed to delete members for image ${pub}.`,
      );
    }
  });
});

describe("what status changes (docs/reference.md §5.6)", () => {
  it("a member in any status reads the image; only accepted shows in its default list", async () => {
    const member = project("member");
    const { id } = await sharedWith(member);
    const listed = async (query = "") => {
      const body = (await (await as(member).get(`/v2/images${query}`)).json()) as {
        images: { id: string }[];
      };
      return body.images.some((i) => i.id === id);
    };
    for (const status of ["pending", "rejected", "accepted"]) {
      if (status !== "pending") await as(member).put(`/v2/images/${id}/members/${member}`, { status });
      expect((await as(member).get(`/v2/images/${id}`)).status).toBe(200);
      expect(await listed()).toBe(status === "accepted");
      expect(await listed(`?member_status=${status}`)).toBe(true);
      expect(await listed("?member_status=all")).toBe(true);
    }
  });
});
