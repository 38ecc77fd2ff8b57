import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { addMember, admin, as, callCounted, expectError, project } from "../helpers";

/**
 * docs/reference.md §14 (OSSN-0075): an image id is never reused. Deleting an image keeps its id reserved
 * (migrations/0004: `image_ids`, claimed by the image insert itself), so POST /v2/images with
 * an id that exists or existed is 409 for every caller, whoever deleted it and whether or not
 * the caller could ever see the image.
 */

const exists = (id: string) => `Image with identifier ${id} already exists!`;

async function rows(id: string) {
  const images = await env.DB.prepare("SELECT COUNT(*) AS n FROM images WHERE id = ?1").bind(id).first<{
    n: number;
  }>();
  const reserved = await env.DB.prepare("SELECT COUNT(*) AS n FROM image_ids WHERE id = ?1")
    .bind(id)
    .first<{ n: number }>();
  return { images: images?.n, reserved: reserved?.n };
}

describe("OSSN-0075: a deleted image's id is not given out again", () => {
  it("A shares X with B, A deletes X; nobody can register X again and B gets 404 on X", async () => {
    const a = project("a");
    const b = project("b");
    const c = project("c");
    const x = crypto.randomUUID();

    const created = await as(a).post("/v2/images", { id: x, name: "golden", visibility: "shared" });
    expect(created.status, await created.clone().text()).toBe(201);
    await addMember(a, x, b);
    expect((await as(b).put(`/v2/images/${x}/members/${b}`, { status: "accepted" })).status).toBe(200);
    expect((await as(b).get(`/v2/images/${x}`)).status).toBe(200);

    expect((await as(a).delete(`/v2/images/${x}`)).status).toBe(204);

    // The attacker's community image (any project may make one) and an admin's public one.
    await expectError(
      await as(c).post("/v2/images", { id: x, name: "golden", visibility: "community" }),
      409,
      exists(x),
    );
    await expectError(
      await admin().post("/v2/images", { id: x, name: "golden", visibility: "public" }),
      409,
      exists(x),
    );
    // Whoever asks: the consumer, the former owner, an admin, with any visibility or none.
    await expectError(await as(b).post("/v2/images", { id: x }), 409, exists(x));
    await expectError(await as(a).post("/v2/images", { id: x, visibility: "private" }), 409, exists(x));

    await expectError(await as(b).get(`/v2/images/${x}`), 404, `No image found with ID ${x}`);
    const list = (await (await as(b).get("/v2/images?visibility=all")).json()) as {
      images: { id: string }[];
    };
    expect(list.images.map((i) => i.id)).not.toContain(x);
    expect(await rows(x)).toEqual({ images: 0, reserved: 1 });
  });

  it("an admin's delete reserves the id as the owner's does; so does the 409 of a caller who never saw it", async () => {
    const a = project("a");
    const x = crypto.randomUUID();
    expect((await as(a).post("/v2/images", { id: x, visibility: "private" })).status).toBe(201);
    // A project that cannot see the private image still cannot take its id.
    await expectError(await as(project("c")).post("/v2/images", { id: x }), 409, exists(x));
    expect((await admin().delete(`/v2/images/${x}`)).status).toBe(204);
    await expectError(await as(project("c")).post("/v2/images", { id: x }), 409, exists(x));
    await expectError(await as(a).post("/v2/images", { id: x }), 409, exists(x));
  });

  it("ids that differ only in case are one id (Glance's ids are lower-case)", async () => {
    const a = project("a");
    const x = crypto.randomUUID();
    const upper = x.toUpperCase();
    const res = await as(a).post("/v2/images", { id: upper });
    expect(((await res.json()) as { id: string }).id).toBe(x);
    await expectError(await as(project("c")).post("/v2/images", { id: x }), 409, exists(x));
    expect((await as(a).delete(`/v2/images/${upper}`)).status).toBe(204);
    await expectError(await as(project("c")).post("/v2/images", { id: upper }), 409, exists(x));
    await expectError(await as(project("c")).post("/v2/images", { id: x }), 409, exists(x));
    // Mixed case, too.
    const mixed = x.replace(/[a-f]/, (ch) => ch.toUpperCase());
    await expectError(await as(project("c")).post("/v2/images", { id: mixed }), 409, exists(x));
    const stored = await env.DB.prepare("SELECT id FROM image_ids WHERE lower(id) = ?1").bind(x).all();
    expect(stored.results).toEqual([{ id: x }]);
  });

  it("an id given out by the server is reserved in the same way", async () => {
    const a = project("a");
    const res = await as(a).post("/v2/images", {});
    const { id } = (await res.json()) as { id: string };
    expect((await as(a).delete(`/v2/images/${id}`)).status).toBe(204);
    await expectError(await as(a).post("/v2/images", { id }), 409, exists(id));
  });
});

describe("settled by the database", () => {
  it("a concurrent create/delete/create race on one id: exactly one 201, never a second image", async () => {
    for (let round = 0; round < 5; round++) {
      const x = crypto.randomUUID();
      const owners = Array.from({ length: 4 }, () => project("racer"));
      // Creates from several projects interleaved with deletes by each of them and an admin.
      const requests = [
        ...owners.map((p) => () => as(p).post("/v2/images", { id: x, visibility: "community" })),
        ...owners.map((p) => () => as(p).delete(`/v2/images/${x}`)),
        () => admin().delete(`/v2/images/${x}`),
        ...owners.map((p) => () => as(p).post("/v2/images", { id: x })),
        () => admin().post("/v2/images", { id: x, visibility: "public" }),
      ];
      const statuses = await Promise.all(requests.map((r) => r().then((res) => res.status)));
      const creates = statuses.filter((_, n) => {
        const k = requests.length;
        return n < owners.length || n >= k - owners.length - 1;
      });
      expect(
        creates.filter((s) => s === 201),
        JSON.stringify(statuses),
      ).toHaveLength(1);
      expect(
        creates.every((s) => s === 201 || s === 409),
        JSON.stringify(statuses),
      ).toBe(true);
      const deletes = statuses.slice(owners.length, owners.length * 2 + 1);
      expect(deletes.filter((s) => s === 204).length).toBeLessThanOrEqual(1);

      const after = await rows(x);
      expect(after.reserved).toBe(1);
      expect(after.images).toBe(deletes.includes(204) ? 0 : 1);
      // And after the race, whatever its outcome, the id stays taken.
      await expectError(await as(project("late")).post("/v2/images", { id: x }), 409, exists(x));
    }
  });

  it("the reservation cannot be released or changed, nor an image's id changed", async () => {
    const x = crypto.randomUUID();
    expect((await as(project("a")).post("/v2/images", { id: x })).status).toBe(201);
    const y = crypto.randomUUID();
    await expect(env.DB.prepare("DELETE FROM image_ids WHERE id = ?1").bind(x).run()).rejects.toThrow(
      /never released/,
    );
    await expect(
      env.DB.prepare("UPDATE image_ids SET id = ?2 WHERE id = ?1").bind(x, y).run(),
    ).rejects.toThrow(/never released/);
    await expect(env.DB.prepare("UPDATE images SET id = ?2 WHERE id = ?1").bind(x, y).run()).rejects.toThrow(
      /never changes/,
    );
    expect(await rows(x)).toEqual({ images: 1, reserved: 1 });
  });
});

describe("cost", () => {
  it("create (201 and the reserved-id 409) and delete each cost one D1 round trip", async () => {
    const me = { project: project("a"), roles: ["member", "reader"] };
    const x = crypto.randomUUID();
    const created = await callCounted("POST", "/v2/images", { who: me, body: { id: x } });
    expect([created.status, created.trips.length]).toEqual([201, 1]);
    const deleted = await callCounted("DELETE", `/v2/images/${x}`, { who: me });
    expect([deleted.status, deleted.trips.length]).toEqual([204, 1]);
    const again = await callCounted("POST", "/v2/images", { who: me, body: { id: x } });
    expect([again.status, again.trips.length]).toEqual([409, 1]);
  });

  it("the claim searches by key: no plan step scans images or image_ids", async () => {
    const statements = [
      // What the trigger runs for each image insert.
      ["INSERT INTO image_ids (id) VALUES (?1)", [crypto.randomUUID()]],
      [
        "INSERT INTO images (id, created_at, updated_at) VALUES (?1, ?2, ?2) RETURNING id",
        [crypto.randomUUID(), "2026-01-01T00:00:00Z"],
      ],
      ["SELECT 1 FROM image_ids WHERE id = ?1", [crypto.randomUUID()]],
    ] as const;
    for (const [sql, params] of statements) {
      const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .bind(...params)
        .all<{ detail: string }>();
      const scans = results.filter((r) => /^SCAN (images|image_ids)\b/.test(r.detail));
      expect(scans, sql).toEqual([]);
    }
    const { results } = await env.DB.prepare("EXPLAIN QUERY PLAN SELECT 1 FROM image_ids WHERE id = ?1")
      .bind("x")
      .all<{ detail: string }>();
    expect(results.map((r) => r.detail)).toEqual([
      expect.stringMatching(/^SEARCH image_ids USING PRIMARY KEY/),
    ]);
  });
});
