import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { addMember, as, createImage, dump, errorBody, expectError, project } from "../helpers";

/** POST …/members as `owner` with IMAGE_MEMBER_QUOTA set to `quota`. */
const addUnder = (quota: string, owner: string, imageId: string, member: string) =>
  as(owner, undefined, { IMAGE_MEMBER_QUOTA: quota }).post(`/v2/images/${imageId}/members`, {
    member_id: member,
  });

const countMembers = async (imageId: string) =>
  (
    await env.DB.prepare("SELECT COUNT(*) AS n FROM image_members WHERE image_id = ?")
      .bind(imageId)
      .first<{ n: number }>()
  )?.n;

describe("member quota (docs/reference.md §5.1 step 6)", () => {
  it("413 once the image has IMAGE_MEMBER_QUOTA members, with Glance's text", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    for (const m of ["a", "b", "c"]) expect((await addUnder("3", owner, id, m)).status).toBe(200);
    const before = await dump();
    const res = await addUnder("3", owner, id, "d");
    await expectError(
      res,
      413,
      `Image member limit exceeded for image ${id}: The limit has been exceeded on the number of allowed image members for this image. Attempted: 4, Maximum: 3`,
    );
    expect(await dump()).toBe(before);
  });

  it("the quota is checked before duplicates (step 6 before step 7)", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    await addUnder("1", owner, id, "only");
    const res = await addUnder("1", owner, id, "only");
    expect(res.status).toBe(413);
  });

  it("defaults to 128 members", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    const at = new Date().toISOString().slice(0, 19).concat("Z");
    const rows = Array.from({ length: 127 }, (_, n) =>
      env.DB.prepare(
        "INSERT INTO image_members (image_id, member_id, status, created_at, updated_at) VALUES (?, ?, 'pending', ?, ?)",
      ).bind(id, `seed-${n}`, at, at),
    );
    await env.DB.batch(rows);
    expect((await as(owner).post(`/v2/images/${id}/members`, { member_id: "m128" })).status).toBe(200);
    const res = await as(owner).post(`/v2/images/${id}/members`, { member_id: "m129" });
    expect(((await res.json()) as { message: string }).message).toMatch(/Attempted: 129, Maximum: 128$/);
    expect(res.status).toBe(413);
  });

  it("a negative quota is unlimited; 0 allows none", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    for (let n = 0; n < 5; n++) expect((await addUnder("-1", owner, id, `u${n}`)).status).toBe(200);
    const other = await createImage(owner);
    const res = await addUnder("0", owner, other, "x");
    expect(((await res.json()) as { message: string }).message).toMatch(/Attempted: 1, Maximum: 0$/);
  });

  it("a quota that is not an integer fails closed: 503", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const res = await addUnder("lots", owner, id, "x");
    expect(res.status).toBe(503);
    expect(errors.mock.calls.map((c) => JSON.parse(String(c[0])))).toEqual([
      { level: "error", msg: 'IMAGE_MEMBER_QUOTA "lots" is not an integer' },
    ]);
    errors.mockRestore();
    expect(await res.json()).toStrictEqual(
      errorBody(503, "The server is currently unavailable. Please try again at a later time."),
    );
  });
});

describe("races are settled by the database (docs/reference.md §3, §10.5)", () => {
  it("20 concurrent adds of the same member: exactly one 200 and nineteen 409", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    const results = await Promise.all(
      Array.from({ length: 20 }, () => as(owner).post(`/v2/images/${id}/members`, { member_id: "same" })),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
    for (const r of results.filter((r) => r.status === 409)) {
      expect(await r.json()).toStrictEqual(errorBody(409, `Member same is duplicated for image ${id}`));
    }
    expect(await countMembers(id)).toBe(1);
  });

  it("20 concurrent distinct adds to an image 5 below the quota: five 200, fifteen 413, never above", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    for (let n = 0; n < 5; n++) await addUnder("10", owner, id, `pre-${n}`);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, n) => addUnder("10", owner, id, `racer-${n}`)),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 413)).toHaveLength(15);
    expect(await countMembers(id)).toBe(10);
  });

  it("concurrent adds and deletes leave exactly the rows the 200s and 204s say", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    for (let n = 0; n < 10; n++) await addMember(owner, id, `d-${n}`);
    const ops = Array.from({ length: 10 }, (_, n) => [
      as(owner).delete(`/v2/images/${id}/members/d-${n}`),
      as(owner).post(`/v2/images/${id}/members`, { member_id: `n-${n}` }),
    ]).flat();
    const statuses = (await Promise.all(ops)).map((r) => r.status);
    expect(statuses.filter((s) => s === 204)).toHaveLength(10);
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(await countMembers(id)).toBe(10);
  });
});
