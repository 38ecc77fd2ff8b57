import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { as, expectError, project } from "../helpers";

/**
 * migrations/0004 applied to a database that already holds images (an existing deployment):
 * its backfill reserves every id there, and applying it again changes nothing.
 *
 * Storage is this file's own, so it can be put back to the schema before 0004 here without
 * touching any other test: the triggers and table 0004 adds are dropped, images are written the
 * way the previous release wrote them (no claim), and then 0004's own statements, as
 * readD1Migrations split them from the file, run again.
 */
const MIGRATION = "0004_image_ids_never_reused.sql";

function migration(): string[] {
  const found = env.TEST_MIGRATIONS.find((m) => m.name === MIGRATION);
  if (!found) throw new Error(`${MIGRATION} is not among the migrations`);
  return found.queries;
}

async function applyMigration() {
  await env.DB.batch(migration().map((q) => env.DB.prepare(q)));
}

/** The schema as 0003 left it (the state of a deployment before this release). */
async function before0004() {
  await env.DB.batch(
    ["image_ids_claim", "images_id_fixed"]
      .map((t) => env.DB.prepare(`DROP TRIGGER IF EXISTS ${t}`))
      .concat(env.DB.prepare("DROP TABLE IF EXISTS image_ids")),
  );
}

/** An image row as the previous release's store inserted it. */
const oldInsert = (id: string, owner: string) =>
  env.DB.prepare(
    "INSERT INTO images (id, owner, visibility, created_at, updated_at) VALUES (?1, ?2, 'shared', ?3, ?3)",
  ).bind(id, owner, "2026-01-01T00:00:00Z");

describe("migrations/0004 on a live database", () => {
  it("is split into the statements the file holds (the triggers whole)", () => {
    const queries = migration();
    expect(queries.some((q) => /CREATE TRIGGER IF NOT EXISTS image_ids_claim[\s\S]*END/.test(q))).toBe(true);
    expect(queries.at(-1)).toMatch(/^INSERT OR IGNORE INTO image_ids \(id\) SELECT id FROM images/);
  });

  it("reserves the ids of images that existed before it; applied twice, it changes nothing", async () => {
    await before0004();
    const owner = project("old");
    const ids = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    await env.DB.batch(ids.map((id) => oldInsert(id, owner)));

    await applyMigration();
    await applyMigration();

    const { results } = await env.DB.prepare(
      `SELECT id FROM image_ids WHERE id IN (${ids.map((_, n) => `?${n + 1}`).join(", ")}) ORDER BY id`,
    )
      .bind(...ids)
      .all<{ id: string }>();
    expect(results.map((r) => r.id)).toEqual([...ids].sort());

    // Existing, then deleted: both 409 for anybody.
    const [kept, removed] = ids as [string, string];
    await expectError(
      await as(project("c")).post("/v2/images", { id: kept }),
      409,
      `Image with identifier ${kept} already exists!`,
    );
    expect((await as(owner).delete(`/v2/images/${removed}`)).status).toBe(204);
    await expectError(
      await as(project("c")).post("/v2/images", { id: removed, visibility: "community" }),
      409,
      `Image with identifier ${removed} already exists!`,
    );
    // New images after it are claimed by the trigger as before.
    const fresh = crypto.randomUUID();
    expect((await as(owner).post("/v2/images", { id: fresh })).status).toBe(201);
    expect((await as(owner).delete(`/v2/images/${fresh}`)).status).toBe(204);
    expect((await as(owner).post("/v2/images", { id: fresh })).status).toBe(409);
  });

  it("an image the previous release inserts after the migration is claimed too (rolling deploy)", async () => {
    // The old store's own INSERT, with 0004 in place: the trigger claims its id.
    const id = crypto.randomUUID();
    await oldInsert(id, project("old")).run();
    const row = await env.DB.prepare("SELECT id FROM image_ids WHERE id = ?1").bind(id).first();
    expect(row).toEqual({ id });
    // And the old store's insert of a reserved id fails on the constraint it already maps to 409.
    await expect(oldInsert(id, project("other")).run()).rejects.toThrow(/UNIQUE constraint failed/);
  });
});
