import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { RATE_LIMIT_RETRY_AFTER, RATE_LIMITED } from "../../src/http/rate-limit";
import { as, createImage, project } from "../helpers";

// Write rate limits (issue 10) with the real Workers Rate Limiting binding as Miniflare runs it:
// vitest.config.ts binds TEST_MEMBER_WRITE_LIMIT (5 per 60 s) and these tests pass it to the app
// as MEMBER_WRITE_LIMIT. Miniflare's windows follow the wall clock, so a loop that happens to
// cross a minute boundary may get up to twice the limit through: the assertions allow for that.

declare global {
  namespace Cloudflare {
    interface Env {
      TEST_MEMBER_WRITE_LIMIT: RateLimit;
    }
  }
}

const LIMIT = 5;
const LIMITED: Partial<Cloudflare.Env> = { MEMBER_WRITE_LIMIT: env.TEST_MEMBER_WRITE_LIMIT };

async function membersOf(imageId: string): Promise<string[]> {
  const { results } = await env.DB.prepare(
    "SELECT member_id FROM image_members WHERE image_id = ?1 ORDER BY member_id",
  )
    .bind(imageId)
    .all<{ member_id: string }>();
  return results.map((r) => r.member_id);
}

describe("membership writes are limited per caller project", () => {
  it("a loop of adds gets 429s after the limit; the database holds exactly the adds answered 200", async () => {
    const owner = project("flood");
    const imageId = await createImage(owner);
    const added: string[] = [];
    const statuses: number[] = [];
    for (let i = 0; i < 3 * LIMIT; i++) {
      const member = project(`m${i}`);
      const res = await as(owner, undefined, LIMITED).post(`/v2/images/${imageId}/members`, {
        member_id: member,
      });
      statuses.push(res.status);
      if (res.status === 200) added.push(member);
      else {
        expect(res.status).toBe(429);
        expect(res.headers.get("Retry-After")).toBe(RATE_LIMIT_RETRY_AFTER);
        expect(res.headers.get("Content-Type")).toBe("application/json");
        expect(await res.json()).toStrictEqual({
          message: RATE_LIMITED,
          code: "429 Too Many Requests",
          title: "Too Many Requests",
        });
      }
    }
    expect(statuses.slice(0, LIMIT)).toEqual(Array(LIMIT).fill(200));
    expect(added.length).toBeGreaterThanOrEqual(LIMIT);
    expect(added.length).toBeLessThanOrEqual(2 * LIMIT);
    expect(statuses.filter((s) => s === 429).length).toBe(3 * LIMIT - added.length);
    expect(await membersOf(imageId)).toEqual([...added].sort());
  });

  it("PUT and DELETE count too, refused ones write nothing, and the text form is docs/reference.md §2's", async () => {
    const owner = project("owner");
    const member = project("member");
    const imageId = await createImage(owner);
    const ownerApi = as(owner, undefined, LIMITED);
    const memberApi = as(member, undefined, LIMITED);
    expect((await ownerApi.post(`/v2/images/${imageId}/members`, { member_id: member })).status).toBe(200);
    // The member's own project has its own budget: its PUTs do not use the owner's.
    const puts: number[] = [];
    let lastStatus = "pending";
    for (let i = 0; i < 3 * LIMIT; i++) {
      const res = await memberApi.put(`/v2/images/${imageId}/members/${member}`, {
        status: i % 2 ? "accepted" : "rejected",
      });
      puts.push(res.status);
      if (res.status === 200) lastStatus = i % 2 ? "accepted" : "rejected";
    }
    const row = await env.DB.prepare(
      "SELECT status FROM image_members WHERE image_id = ?1 AND member_id = ?2",
    )
      .bind(imageId, member)
      .first<{ status: string }>();
    expect(row?.status).toBe(lastStatus);
    expect(puts.slice(0, LIMIT)).toEqual(Array(LIMIT).fill(200));
    expect(puts).toContain(429);
    const deletes: number[] = [];
    for (let i = 0; i < 3 * LIMIT; i++) {
      const res = await ownerApi.delete(`/v2/images/${imageId}/members/${project("ghost")}`, undefined, {
        Accept: "*/*",
      });
      deletes.push(res.status);
      if (res.status === 429) {
        expect(res.headers.get("Content-Type")).toBe("text/plain; charset=UTF-8");
        expect(await res.text()).toBe(`429 Too Many Requests\n\n${RATE_LIMITED}\n`);
      }
    }
    // The owner already spent one write on the add.
    expect(deletes.slice(0, LIMIT - 1)).toEqual(Array(LIMIT - 1).fill(404));
    expect(deletes).toContain(429);
    // The member row is still there: a refused DELETE of it removes nothing.
    const last = await ownerApi.delete(`/v2/images/${imageId}/members/${member}`);
    if (last.status === 429) expect(await membersOf(imageId)).toEqual([member]);
  });

  it("reads are never limited", async () => {
    const owner = project("reader");
    const imageId = await createImage(owner);
    const api = as(owner, undefined, LIMITED);
    for (let i = 0; i < 4 * LIMIT; i++) {
      expect((await api.get(`/v2/images/${imageId}/members`)).status).toBe(200);
      expect((await api.get(`/v2/images/${imageId}/members/${project()}`)).status).toBe(404);
    }
    // Reads spent nothing: the first writes still go through.
    expect((await api.post(`/v2/images/${imageId}/members`, { member_id: project() })).status).toBe(200);
  });

  it("one project's flood does not limit another project", async () => {
    const flooder = project("flooder");
    const other = project("other");
    const [a, b] = [await createImage(flooder), await createImage(other)];
    for (let i = 0; i < 3 * LIMIT; i++) {
      await as(flooder, undefined, LIMITED).post(`/v2/images/${a}/members`, { member_id: project() });
    }
    expect(
      (await as(other, undefined, LIMITED).post(`/v2/images/${b}/members`, { member_id: project() })).status,
    ).toBe(200);
  });

  it("without the binding nothing is limited", async () => {
    const owner = project("free");
    const imageId = await createImage(owner);
    for (let i = 0; i < 4 * LIMIT; i++) {
      const res = await as(owner).post(`/v2/images/${imageId}/members`, { member_id: project() });
      expect(res.status).toBe(200);
    }
    expect(await membersOf(imageId)).toHaveLength(4 * LIMIT);
  });

  it("a limiter that fails lets writes through (it protects, it does not authorize)", async () => {
    const owner = project("owner");
    const imageId = await createImage(owner);
    const broken: RateLimit = { limit: () => Promise.reject(new Error("limiter down")) };
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const res = await as(owner, undefined, { MEMBER_WRITE_LIMIT: broken }).post(
      `/v2/images/${imageId}/members`,
      {
        member_id: project(),
      },
    );
    expect(res.status).toBe(200);
    // …and says so, with the request's id.
    expect(errors.mock.calls.map((c) => JSON.parse(String(c[0])))).toEqual([
      expect.objectContaining({
        level: "error",
        msg: "rate limiter failed (Error); write not limited",
        request_id: res.headers.get("x-openstack-request-id"),
      }),
    ]);
    errors.mockRestore();
  });
});
