import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { as, createImage, dump, expectError, project } from "../helpers";

/** PUT and DELETE /v2/images/{id}/tags/{tag} (Glance's image_tags.py); who may: authorization.test.ts. */
async function tagsOf(owner: string, id: string): Promise<string[]> {
  const res = await as(owner).get(`/v2/images/${id}`);
  return ((await res.json()) as { tags: string[] }).tags;
}

async function updatedAt(id: string) {
  return env.DB.prepare("SELECT updated_at, revision FROM images WHERE id = ?1").bind(id).first();
}

describe("image tags", () => {
  it("PUT adds a tag (204, empty body), idempotently; DELETE removes it", async () => {
    const owner = project("owner");
    const id = await createImage(owner, { tags: ["a", "b"] });
    const put = await as(owner).put(`/v2/images/${id}/tags/c`);
    expect(put.status).toBe(204);
    expect(await put.text()).toBe("");
    expect(await tagsOf(owner, id)).toEqual(["a", "b", "c"]);
    const stamp = await updatedAt(id);
    expect((await as(owner).put(`/v2/images/${id}/tags/a`)).status).toBe(204);
    expect(await tagsOf(owner, id)).toEqual(["a", "b", "c"]);
    expect(await updatedAt(id), "a tag already there writes nothing").toEqual(stamp);
    const del = await as(owner).delete(`/v2/images/${id}/tags/b`);
    expect(del.status).toBe(204);
    expect(await del.text()).toBe("");
    expect(await tagsOf(owner, id)).toEqual(["a", "c"]);
  });

  it("DELETE of a tag the image does not have is 404", async () => {
    const owner = project("owner");
    const id = await createImage(owner, { tags: ["a"] });
    const before = await dump();
    await expectError(
      await as(owner).delete(`/v2/images/${id}/tags/zz`),
      404,
      "The resource could not be found.",
    );
    expect(await dump()).toBe(before);
    // The image comes first: for a caller who cannot see it, the tag is not looked at.
    await expectError(
      await as(project("x"), ["reader"]).delete(`/v2/images/${id}/tags/zz`),
      404,
      `Image ${id} not found.`,
    );
  });

  it("tags are path segments: encoded characters arrive decoded, and are stored exactly", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    expect((await as(owner).put(`/v2/images/${id}/tags/${encodeURIComponent("a b/é")}`)).status).toBe(204);
    expect((await as(owner).put(`/v2/images/${id}/tags/Case`)).status).toBe(204);
    expect(await tagsOf(owner, id)).toEqual(["a b/é", "Case"]);
    expect((await as(owner).delete(`/v2/images/${id}/tags/case`)).status).toBe(404);
    expect((await as(owner).delete(`/v2/images/${id}/tags/${encodeURIComponent("a b/é")}`)).status).toBe(204);
    expect(await tagsOf(owner, id)).toEqual(["Case"]);
  });

  it("a tag over 255 characters is 400, before the image is looked up", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    const long = "x".repeat(256);
    for (const target of [id, crypto.randomUUID()]) {
      const res = await as(owner).put(`/v2/images/${target}/tags/${long}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { message: string }).message).toMatch(
        /^Provided object does not match schema 'image': tags\.0: /,
      );
    }
    expect((await as(owner).put(`/v2/images/${id}/tags/${"x".repeat(255)}`)).status).toBe(204);
  });

  it("the 129th tag is 413 in Glance's words; a tag already there still passes", async () => {
    const owner = project("owner");
    const tags = Array.from({ length: 128 }, (_, n) => `t${n}`);
    const id = await createImage(owner, { tags });
    const before = await dump();
    await expectError(
      await as(owner).put(`/v2/images/${id}/tags/one-more`),
      413,
      `Image tag limit exceeded for image ${id}: The limit has been exceeded on the number of allowed image tags. Attempted: 129, Maximum: 128:`,
    );
    expect(await dump()).toBe(before);
    expect((await as(owner).put(`/v2/images/${id}/tags/t5`)).status).toBe(204);
    expect((await as(owner).delete(`/v2/images/${id}/tags/t5`)).status).toBe(204);
    expect((await as(owner).put(`/v2/images/${id}/tags/one-more`)).status).toBe(204);
    expect((await tagsOf(owner, id)).length).toBe(128);
  });

  it("the tag list filter sees tags added and removed this way", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    const tag = `find-${crypto.randomUUID().slice(0, 6)}`;
    const listed = async () =>
      (
        (await (await as(owner).get(`/v2/images?tag=${tag}`)).json()) as { images: { id: string }[] }
      ).images.map((i) => i.id);
    expect(await listed()).toEqual([]);
    await as(owner).put(`/v2/images/${id}/tags/${tag}`);
    expect(await listed()).toEqual([id]);
    await as(owner).delete(`/v2/images/${id}/tags/${tag}`);
    expect(await listed()).toEqual([]);
  });
});
