import { describe, expect, it } from "vitest";
import {
  addMember,
  admin,
  as,
  call,
  createImage,
  dump,
  expectError,
  identity,
  LEGACY,
  project,
} from "../helpers";

const TS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const NOT_OBJECT = 'Expected a member in the form: {"member_id": "<project id>"}';

describe("POST /v2/images/{image_id}/members (docs/reference.md §5.1)", () => {
  it("adds a pending member: 200 with the member object, keys in order", async () => {
    const owner = project("owner");
    const member = project("member");
    const id = await createImage(owner);
    const res = await as(owner).post(`/v2/images/${id}/members`, { member_id: member });
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toBe("application/json");
    const body = (await res.json()) as Record<string, string>;
    expect(Object.keys(body)).toEqual([
      "member_id",
      "image_id",
      "status",
      "created_at",
      "updated_at",
      "schema",
    ]);
    expect(body).toMatchObject({
      member_id: member,
      image_id: id,
      status: "pending",
      schema: "/v2/schemas/member",
    });
    expect(body.created_at).toMatch(TS);
    expect(body.updated_at).toBe(body.created_at);
  });

  it("accepts the deprecated `member` key, and prefers `member_id` when both are sent", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    const old = project("old");
    let res = await as(owner).post(`/v2/images/${id}/members`, { member: old });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { member_id: string }).member_id).toBe(old);
    const preferred = project("pref");
    res = await as(owner).post(`/v2/images/${id}/members`, { member_id: preferred, member: "ignored" });
    expect(((await res.json()) as { member_id: string }).member_id).toBe(preferred);
    // An invalid `member` next to a valid `member_id` is ignored, and other keys too.
    const third = project("third");
    res = await as(owner).post(`/v2/images/${id}/members`, { member_id: third, member: 42, extra: [1] });
    expect(res.status).toBe(200);
    const list = (await (await as(owner).get(`/v2/images/${id}/members`)).json()) as {
      members: { member_id: string }[];
    };
    expect(list.members.map((m) => m.member_id).sort()).toEqual([old, preferred, third].sort());
  });

  it("stores member ids exactly: case-sensitive, untrimmed, any printable unicode", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    for (const m of ["Proj-X", "proj-x", " padded ", "ünïcødé-😀", "x".repeat(255), "😀".repeat(255)]) {
      const res = await as(owner).post(`/v2/images/${id}/members`, { member_id: m });
      expect(res.status, m).toBe(200);
      expect(((await res.json()) as { member_id: string }).member_id).toBe(m);
    }
  });

  describe("step 1: body", () => {
    const cases: [string, string | null, string][] = [
      ["empty body", "", "Body expected in request."],
      ["whitespace body", "  \n", "Body expected in request."],
      ["not JSON", "{member_id: x}", "Malformed JSON in request body."],
      ["truncated JSON", '{"member_id": "a"', "Malformed JSON in request body."],
      ["array", '["a"]', NOT_OBJECT],
      ["string", '"a"', NOT_OBJECT],
      ["number", "42", NOT_OBJECT],
      ["null", "null", NOT_OBJECT],
      ["true", "true", NOT_OBJECT],
    ];
    for (const [name, raw, message] of cases) {
      it(`${name}: 400 ${message}`, async () => {
        const owner = project("owner");
        const id = await createImage(owner);
        const before = await dump();
        const res = await call("POST", `/v2/images/${id}/members`, {
          who: { project: owner },
          raw,
          headers: { "Content-Type": "application/json" },
        });
        await expectError(res, 400, message);
        expect(await dump()).toBe(before);
      });
    }

    it("parses the body as JSON whatever the Content-Type", async () => {
      const owner = project("owner");
      const id = await createImage(owner);
      for (const type of ["text/plain", "application/x-www-form-urlencoded", ""]) {
        const m = project("m");
        const headers: Record<string, string> = type ? { "Content-Type": type } : {};
        const res = await call("POST", `/v2/images/${id}/members`, {
          who: { project: owner },
          raw: JSON.stringify({ member_id: m }),
          headers,
        });
        expect(res.status, type).toBe(200);
      }
    });

    it("lone surrogates are malformed JSON (they could not be stored as sent)", async () => {
      const owner = project("owner");
      const id = await createImage(owner);
      const before = await dump();
      for (const raw of [
        '{"member_id": "\\ud800"}',
        '{"member_id": "a\\udfffb"}',
        '{"\\ud800": 1, "member_id": "x"}',
      ]) {
        const res = await call("POST", `/v2/images/${id}/members`, { who: { project: owner }, raw });
        await expectError(res, 400, "Malformed JSON in request body.");
      }
      expect(await dump()).toBe(before);
      // A well-formed pair is fine.
      const ok = await call("POST", `/v2/images/${id}/members`, {
        who: { project: owner },
        raw: '{"member_id": "\\ud83d\\ude00"}',
      });
      expect(((await ok.json()) as { member_id: string }).member_id).toBe("😀");
    });

    it("invalid UTF-8 is malformed JSON", async () => {
      const owner = project("owner");
      const id = await createImage(owner);
      const res = await call("POST", `/v2/images/${id}/members`, {
        who: { project: owner },
        raw: new Uint8Array([0x7b, 0x22, 0x6d, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
      });
      await expectError(res, 400, "Malformed JSON in request body.");
    });
  });

  describe("step 2: member id", () => {
    const cases: [string, unknown, string][] = [
      ["neither key", { name: "x" }, "Member to be added not specified"],
      ["empty object", {}, "Member to be added not specified"],
      ["empty string", { member_id: "" }, "Member can't be empty"],
      ["null", { member_id: null }, "Member can't be empty"],
      ["deprecated key empty", { member: "" }, "Member can't be empty"],
      ["number", { member_id: 42 }, "Invalid member id."],
      ["array", { member_id: ["a"] }, "Invalid member id."],
      ["object", { member_id: { id: "a" } }, "Invalid member id."],
      ["boolean", { member_id: true }, "Invalid member id."],
      ["256 characters", { member_id: "x".repeat(256) }, "Invalid member id."],
      ["256 astral characters", { member_id: "😀".repeat(256) }, "Invalid member id."],
      ["newline", { member_id: "a\nb" }, "Invalid member id."],
      ["NUL", { member_id: "a\u0000" }, "Invalid member id."],
      ["DEL", { member_id: "a\u007f" }, "Invalid member id."],
      ["C1 control", { member_id: "a\u0085" }, "Invalid member id."],
      ["member_id wins even when invalid", { member_id: 5, member: "ok" }, "Invalid member id."],
    ];
    for (const [name, body, message] of cases) {
      it(`${name}: 400 ${message}`, async () => {
        const owner = project("owner");
        const id = await createImage(owner);
        const before = await dump();
        await expectError(await as(owner).post(`/v2/images/${id}/members`, body), 400, message);
        expect(await dump()).toBe(before);
      });
    }

    it("body errors come before the image lookup", async () => {
      const res = await as(project()).post("/v2/images/not-a-uuid/members", {});
      await expectError(res, 400, "Member to be added not specified");
    });
  });

  it("step 3: an unknown, malformed or invisible image is 404", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    const stranger = project("stranger");
    for (const imageId of [crypto.randomUUID(), "not-a-uuid", "%F0%9F%98%80", id]) {
      const who = imageId === id ? stranger : owner;
      const res = await as(who).post(`/v2/images/${imageId}/members`, { member_id: "x" });
      await expectError(res, 404, `Image ${decodeURIComponent(imageId)} not found.`);
    }
  });

  it("step 4: public and community images have no members: 403, even for admins", async () => {
    for (const visibility of ["public", "community"]) {
      const adm = admin();
      const owner = project("owner");
      const id = await createImage(owner, { visibility, owner }, ["admin"]);
      for (const who of [as(owner), adm]) {
        const res = await who.post(`/v2/images/${id}/members`, { member_id: "x" });
        await expectError(res, 403, `Not allowed to create members for image ${id}.`);
      }
    }
  });

  it("private images take members (seed), like shared", async () => {
    const owner = project("owner");
    const id = await createImage(owner, { visibility: "private" });
    const m = project("m");
    expect((await addMember(owner, id, m)) as object).toMatchObject({ member_id: m, status: "pending" });
  });

  it("step 5: a member may not add members: 403 (add_member, or legacy's owner check)", async () => {
    const owner = project("owner");
    const member = project("member");
    const id = await createImage(owner);
    await addMember(owner, id, member);
    const before = await dump();
    const res = await as(member).post(`/v2/images/${id}/members`, { member_id: "other" });
    await expectError(res, 403, "You are not authorized to complete add_member action.");
    const legacy = await as(member, undefined, LEGACY).post(`/v2/images/${id}/members`, {
      member_id: "other",
    });
    await expectError(legacy, 403, `Not allowed to create members for image ${id}.`);
    expect(await dump()).toBe(before);
  });

  it("an admin may add members to anyone's image", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    const res = await admin().post(`/v2/images/${id}/members`, { member_id: "by-admin" });
    expect(res.status).toBe(200);
  });

  it("step 7: a duplicate is 409", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    await addMember(owner, id, "dup");
    const before = await dump();
    const res = await as(owner).post(`/v2/images/${id}/members`, { member_id: "dup" });
    await expectError(res, 409, `Member dup is duplicated for image ${id}`);
    expect(await dump()).toBe(before);
  });

  it("the owner may add its own project; it still cannot set that row's status", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    await addMember(owner, id, owner);
    const res = await as(owner).put(`/v2/images/${id}/members/${owner}`, { status: "accepted" });
    // modify_member needs the caller to be a member, and the owner never counts as one (docs/reference.md §11).
    await expectError(res, 403, "You are not authorized to complete modify_member action.");
    const legacy = await as(owner, undefined, LEGACY).put(`/v2/images/${id}/members/${owner}`, {
      status: "accepted",
    });
    await expectError(legacy, 403, `Not allowed to update members for image ${id}.`);
  });

  it("re-adding a removed member starts a fresh pending membership", async () => {
    const owner = project("owner");
    const member = project("member");
    const id = await createImage(owner);
    await addMember(owner, id, member);
    expect((await as(member).put(`/v2/images/${id}/members/${member}`, { status: "accepted" })).status).toBe(
      200,
    );
    expect((await as(owner).delete(`/v2/images/${id}/members/${member}`)).status).toBe(204);
    const again = (await addMember(owner, id, member)) as { status: string };
    expect(again.status).toBe("pending");
  });

  it("a caller without a project is 401", async () => {
    const id = await createImage(project());
    const res = await call("POST", `/v2/images/${id}/members`, {
      who: { project: null },
      body: { member_id: "x" },
    });
    await expectError(
      res,
      401,
      "This server could not verify that you are authorized to access the document you requested.",
    );
  });

  it("identity headers: X-Tenant-Id then X-Tenant stand in for X-Project-Id", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    for (const header of ["X-Tenant-Id", "X-Tenant"]) {
      const h = identity({ project: null });
      h[header] = owner;
      const res = await call("POST", `/v2/images/${id}/members`, {
        headers: h,
        body: { member_id: project() },
      });
      expect(res.status, header).toBe(200);
    }
  });
});
