import { describe, expect, it } from "vitest";
import { addMember, admin, as, call, createImage, expectError, project } from "../helpers";

type Page = { images: { id: string; name: string }[]; first: string; next?: string; schema: string };

async function page(who: ReturnType<typeof as>, query = ""): Promise<Page> {
  const res = await who.get(`/v2/images${query}`);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as Page;
}

async function ids(who: ReturnType<typeof as>, query = "") {
  const sep = query ? "&" : "?";
  return new Set((await page(who, `${query}${sep}limit=1000`)).images.map((i) => i.id));
}

/** One owner's images of every kind, and a member project with memberships in every status. */
async function world() {
  const owner = project("owner");
  const member = project("member");
  const img = {
    public: await createImage(owner, { visibility: "public", owner }, ["admin"]),
    community: await createImage(owner, { visibility: "community" }),
    shared: await createImage(owner, { visibility: "shared" }),
    private: await createImage(owner, { visibility: "private" }),
    pending: await createImage(owner),
    rejected: await createImage(owner, { visibility: "private" }),
    hidden: await createImage(owner, { visibility: "public", owner, os_hidden: true }, ["admin"]),
  };
  for (const id of [img.shared, img.private, img.pending, img.rejected]) await addMember(owner, id, member);
  await as(member).put(`/v2/images/${img.shared}/members/${member}`, { status: "accepted" });
  await as(member).put(`/v2/images/${img.private}/members/${member}`, { status: "accepted" });
  await as(member).put(`/v2/images/${img.rejected}/members/${member}`, { status: "rejected" });
  return { owner, member, img };
}

describe("GET /v2/images visibility × member_status (docs/reference.md §8.3)", () => {
  it("a member sees public and accepted shared/private images by default, not others' community", async () => {
    const { member, img } = await world();
    const seen = await ids(as(member));
    expect(seen.has(img.public)).toBe(true);
    expect(seen.has(img.shared)).toBe(true);
    expect(seen.has(img.private)).toBe(true);
    expect(seen.has(img.community)).toBe(false);
    expect(seen.has(img.pending)).toBe(false);
    expect(seen.has(img.rejected)).toBe(false);
    expect(seen.has(img.hidden)).toBe(false);
  });

  it("member_status picks the memberships; all takes any", async () => {
    const { member, img } = await world();
    const pending = await ids(as(member), "?member_status=pending");
    expect([pending.has(img.pending), pending.has(img.shared), pending.has(img.rejected)]).toEqual([
      true,
      false,
      false,
    ]);
    const rejected = await ids(as(member), "?member_status=rejected");
    expect([rejected.has(img.rejected), rejected.has(img.pending)]).toEqual([true, false]);
    const all = await ids(as(member), "?member_status=all");
    for (const id of [img.pending, img.rejected, img.shared, img.private]) expect(all.has(id)).toBe(true);
  });

  it("visibility keeps one kind; community and all bring in others' community images", async () => {
    const { member, img } = await world();
    const shared = await ids(as(member), "?visibility=shared");
    expect([shared.has(img.shared), shared.has(img.private), shared.has(img.public)]).toEqual([
      true,
      false,
      false,
    ]);
    const priv = await ids(as(member), "?visibility=private");
    expect([priv.has(img.private), priv.has(img.shared)]).toEqual([true, false]);
    const community = await ids(as(member), "?visibility=community");
    expect([community.has(img.community), community.has(img.public)]).toEqual([true, false]);
    const all = await ids(as(member), "?visibility=all");
    expect([all.has(img.community), all.has(img.public), all.has(img.shared)]).toEqual([true, true, true]);
  });

  it("the owner sees all its own images, community included", async () => {
    const { owner, img } = await world();
    const seen = await ids(as(owner));
    for (const id of [img.public, img.community, img.shared, img.private, img.pending, img.rejected]) {
      expect(seen.has(id)).toBe(true);
    }
  });

  it("strangers see only public ones; admins everything but others' community unless asked", async () => {
    const { img } = await world();
    const stranger = await ids(as(project()));
    expect([stranger.has(img.public), stranger.has(img.shared), stranger.has(img.private)]).toEqual([
      true,
      false,
      false,
    ]);
    const adm = await ids(admin(), "?member_status=pending");
    expect([adm.has(img.shared), adm.has(img.private), adm.has(img.community)]).toEqual([true, true, false]);
    expect((await ids(admin(), "?visibility=all")).has(img.community)).toBe(true);
  });

  it("os_hidden images only with os_hidden=true", async () => {
    const { member, img } = await world();
    expect((await ids(as(member))).has(img.hidden)).toBe(false);
    const hidden = await ids(as(member), "?os_hidden=true");
    expect([hidden.has(img.hidden), hidden.has(img.public)]).toEqual([true, false]);
    // openstacksdk's find_image sends os_hidden=True; Glance lower-cases this one filter.
    const sdk = await ids(as(member), "?os_hidden=True");
    expect([sdk.has(img.hidden), sdk.has(img.public)]).toEqual([true, false]);
    expect((await as(member).get("/v2/images?protected=True")).status).toBe(400);
  });

  it("bad filter values are 400", async () => {
    const me = as(project());
    await expectError(
      await me.get("/v2/images?visibility=everyone"),
      400,
      "Invalid visibility value: everyone",
    );
    await expectError(await me.get("/v2/images?member_status=maybe"), 400, "Invalid status value: maybe");
    await expectError(await me.get("/v2/images?limit=x"), 400, "limit param must be an integer");
    await expectError(await me.get("/v2/images?limit=-1"), 400, "limit param must be an integer");
    await expectError(
      await me.get("/v2/images?os_hidden=maybe"),
      400,
      "Invalid value for os_hidden: must be true or false.",
    );
    const unknown = crypto.randomUUID();
    await expectError(
      await me.get(`/v2/images?marker=${unknown}`),
      400,
      `Invalid marker. Image ${unknown} could not be found.`,
    );
  });
});

describe("filters, sorting and pages (docs/reference.md §8.3)", () => {
  async function named(owner: string, n: number) {
    const made: string[] = [];
    for (let k = 0; k < n; k++)
      made.push(await createImage(owner, { name: `n${k}`, tags: k % 2 ? ["odd"] : ["even"], min_ram: k }));
    return made;
  }

  it("owner, name, tag and protected filters", async () => {
    const owner = project("owner");
    const made = await named(owner, 4);
    const mine = await ids(as(owner), `?owner=${owner}`);
    expect(mine).toEqual(new Set(made));
    expect(await ids(as(owner), `?owner=${owner}&name=n2`)).toEqual(new Set([made[2]]));
    expect(await ids(as(owner), `?owner=${owner}&tag=odd`)).toEqual(new Set([made[1], made[3]]));
    expect(await ids(as(owner), `?owner=${owner}&tag=odd&tag=even`)).toEqual(new Set());
    expect(await ids(as(owner), `?owner=${owner}&protected=true`)).toEqual(new Set());
    expect(await ids(as(owner), `?owner=${owner}&status=queued`)).toEqual(new Set(made));
  });

  it("Glance's other filters: formats, sizes, and custom properties by exact value", async () => {
    const owner = project("owner");
    const raw = await createImage(owner, {
      disk_format: "raw",
      container_format: "bare",
      os_distro: "debian",
      min_ram: 512,
    });
    const qcow = await createImage(owner, {
      disk_format: "qcow2",
      container_format: "ovf",
      os_distro: "ubuntu",
    });
    const q = (query: string) => ids(as(owner), `?owner=${owner}&${query}`);
    expect(await q("disk_format=raw")).toEqual(new Set([raw]));
    expect(await q("container_format=ovf")).toEqual(new Set([qcow]));
    expect(await q("os_distro=ubuntu")).toEqual(new Set([qcow]));
    expect(await q("os_distro=debian&disk_format=qcow2")).toEqual(new Set());
    expect(await q("min_ram=512")).toEqual(new Set([raw]));
    expect(await q("no_such_property=x")).toEqual(new Set());
    // Sizes need data: give the raw image 5 bytes.
    const upload = await call("PUT", `/v2/images/${raw}/file`, {
      who: { project: owner },
      raw: new Uint8Array([1, 2, 3, 4, 5]),
      headers: { "Content-Type": "application/octet-stream" },
    });
    expect(upload.status).toBe(204);
    expect(await q("size=5")).toEqual(new Set([raw]));
    expect(await q("size_min=5&size_max=5")).toEqual(new Set([raw]));
    expect(await q("size_min=6")).toEqual(new Set());
    expect(await q("size_max=4")).toEqual(new Set());
    await expectError(
      await as(owner).get("/v2/images?size_min=big"),
      400,
      "size_min param must be a non-negative integer",
    );
    await expectError(
      await as(owner).get("/v2/images?name=a&name=b"),
      400,
      "Parameter name must be given once.",
    );
    await expectError(
      await as(owner).get("/v2/images?os_distro=a&os_distro=b"),
      400,
      "Property filters must be given once.",
    );
  });

  it("pages with limit, first and next; marker continues; default order newest first then id", async () => {
    const owner = project("owner");
    const made = await named(owner, 5);
    const first = await page(as(owner), `?owner=${owner}&limit=2`);
    expect(first.images).toHaveLength(2);
    expect(first.first).toBe(`/v2/images?owner=${owner}&limit=2`);
    expect(first.schema).toBe("/v2/schemas/images");
    expect(first.next).toBe(`/v2/images?owner=${owner}&limit=2&marker=${first.images[1]?.id}`);
    const collected = [...first.images];
    let next = first.next;
    while (next) {
      const p = await page(as(owner), next.replace("/v2/images", ""));
      expect(p.first).toBe(`/v2/images?owner=${owner}&limit=2`);
      collected.push(...p.images);
      next = p.next;
    }
    expect(collected.map((i) => i.id).sort()).toEqual([...made].sort());
    const whole = await page(as(owner), `?owner=${owner}`);
    expect(whole.next).toBeUndefined();
    expect(whole.first).toBe(`/v2/images?owner=${owner}`);
    expect(collected.map((i) => i.id)).toEqual(whole.images.map((i) => i.id));
  });

  it("sort_key/sort_dir and sort=key:dir", async () => {
    const owner = project("owner");
    await named(owner, 4);
    const asc = await page(as(owner), `?owner=${owner}&sort_key=min_ram&sort_dir=asc`);
    expect(asc.images.map((i) => i.name)).toEqual(["n0", "n1", "n2", "n3"]);
    const desc = await page(as(owner), `?owner=${owner}&sort=name:desc`);
    expect(desc.images.map((i) => i.name)).toEqual(["n3", "n2", "n1", "n0"]);
    const paged = await page(as(owner), `?owner=${owner}&sort=name:asc&limit=3`);
    const rest = await page(as(owner), (paged.next as string).replace("/v2/images", ""));
    expect([...paged.images, ...rest.images].map((i) => i.name)).toEqual(["n0", "n1", "n2", "n3"]);
    await expectError(
      await as(owner).get("/v2/images?sort=name&sort_key=name"),
      400,
      "The 'sort' parameter is not compatible with 'sort_key' and 'sort_dir'.",
    );
    expect((await as(owner).get("/v2/images?sort_key=tags")).status).toBe(400);
    expect((await as(owner).get("/v2/images?sort_dir=sideways")).status).toBe(400);
  });

  it("with one direction given, the created_at/id tie-breakers follow it (as Glance)", async () => {
    const owner = project("owner");
    const same: string[] = [];
    for (let k = 0; k < 4; k++) same.push(await createImage(owner, { name: "same" }));
    const byId = (dir: number) => [...same].sort((a, b) => dir * a.localeCompare(b));
    const created = async (query: string) => {
      const rows = (await page(as(owner), `?owner=${owner}&${query}`)).images as unknown as Record<
        string,
        string
      >[];
      return rows.map((r) => `${r.created_at}|${r.id}`);
    };
    for (const [query, dir] of [
      ["sort=name:asc", 1],
      ["sort=name:desc", -1],
      ["sort_key=name&sort_dir=asc", 1],
      ["sort_key=name", -1],
    ] as const) {
      const got = await created(query);
      const expected = [...got].sort((a, b) => dir * a.localeCompare(b));
      expect(got, query).toEqual(expected);
      expect(byId(dir).every((id) => got.some((g) => g.endsWith(id)))).toBe(true);
    }
  });

  it("a marker the caller may not see is 400, like an unknown one", async () => {
    const secret = await createImage(project("other"));
    const res = await as(project()).get(`/v2/images?marker=${secret}`);
    await expectError(res, 400, `Invalid marker. Image ${secret} could not be found.`);
  });
});
