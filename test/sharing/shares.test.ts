import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import sharesSchema from "../../src/discovery/documents/shares.json";
import {
  addMember,
  admin,
  as,
  call,
  createImage,
  dump,
  expectError,
  LEGACY,
  project,
  recordingQueue,
  rid,
  type Who,
} from "../helpers";

/**
 * GET /v2/shares and POST /v2/shares (docs/reference.md §12.2, §12.3). Expected share objects are built from
 * the test's own knowledge of the images and, for timestamps, from the image_members row.
 */

const SHARE_KEYS = [
  "image_id",
  "image_name",
  "image_owner",
  "image_visibility",
  "member_id",
  "status",
  "created_at",
  "updated_at",
];
const TS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const SCHEMA = "/v2/schemas/shares";

const BULK_FORM =
  'Expected shares in the form: {"images": ["<image id>", ...], "members": ["<project id>", ...], "expires_at": "YYYY-MM-DDThh:mm:ssZ"}';
const IMAGES_LIST = "images must be a list of 1 to 100 image ids.";
const MEMBERS_LIST = "members must be a list of 1 to 100 project ids.";
const notAuthorized = (rule: string) => `You are not authorized to complete ${rule} action.`;
const notAllowedCreate = (id: string) => `Not allowed to create members for image ${id}.`;
const quotaText = (id: string, attempted: number, quota: number) =>
  `Image member limit exceeded for image ${id}: The limit has been exceeded on the number of allowed image members for this image. Attempted: ${attempted}, Maximum: ${quota}`;

interface Img {
  id: string;
  name: string;
  owner: string;
  visibility: "shared" | "private" | "public" | "community";
}

interface Share {
  image_id: string;
  image_name: string | null;
  image_owner: string | null;
  image_visibility: string;
  member_id: string;
  status: string;
  created_at: string;
  updated_at: string;
  expires_at?: string;
  created?: boolean;
}

interface SharesBody {
  shares: Share[];
  first: string;
  next?: string;
  schema: string;
}

/** An image of `owner`, with a name the test knows. */
async function image(owner: string, visibility: "shared" | "private" = "shared"): Promise<Img> {
  const name = `img-${rid()}`;
  const id = await createImage(owner, { name, visibility });
  return { id, name, owner, visibility };
}

async function setStatus(member: string, imageId: string, status: string) {
  const res = await as(member).put(`/v2/images/${imageId}/members/${member}`, { status });
  expect(res.status, await res.clone().text()).toBe(200);
}

async function memberRow(imageId: string, memberId: string) {
  return env.DB.prepare(
    "SELECT status, created_at, updated_at, expires_at FROM image_members WHERE image_id = ? AND member_id = ?",
  )
    .bind(imageId, memberId)
    .first<{ status: string; created_at: string; updated_at: string; expires_at: string | null }>();
}

/** The share object GET /v2/shares must show for this membership (timestamps from its row). */
async function share(img: Img, member: string, status: string, visibility?: string): Promise<Share> {
  const row = await memberRow(img.id, member);
  expect(row, `${img.id} / ${member}`).not.toBeNull();
  if (!row) throw new Error("unreachable");
  expect(row.status).toBe(status);
  expect(row.created_at).toMatch(TS);
  expect(row.updated_at).toMatch(TS);
  return {
    image_id: img.id,
    image_name: img.name,
    image_owner: img.owner,
    image_visibility: visibility ?? img.visibility,
    member_id: member,
    status,
    created_at: row.created_at,
    updated_at: row.updated_at,
    ...(row.expires_at === null ? {} : { expires_at: row.expires_at }),
  };
}

/** docs/reference.md §12.2's order, written independently of the SQL: created_at, image_id, member_id. */
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const byKey = (a: Share, b: Share) =>
  cmp(a.created_at, b.created_at) || cmp(a.image_id, b.image_id) || cmp(a.member_id, b.member_id);

function expectShareKeys(s: Share, extra: string[] = []) {
  expect(Object.keys(s)).toEqual([...SHARE_KEYS, ...("expires_at" in s ? ["expires_at"] : []), ...extra]);
}

async function okJson<T>(res: Response): Promise<T> {
  const text = await res.text();
  expect(res.status, text).toBe(200);
  expect(res.headers.get("Content-Type")).toBe("application/json");
  return JSON.parse(text) as T;
}

/** A listing that is the last page: exactly these shares, in reference order, no `next`. */
async function expectShares(res: Response, expected: Share[], first: string): Promise<SharesBody> {
  const body = await okJson<SharesBody>(res);
  expect(body).toStrictEqual({ shares: [...expected].sort(byKey), first, schema: SCHEMA });
  expect(Object.keys(body)).toEqual(["shares", "first", "schema"]);
  for (const s of body.shares) expectShareKeys(s);
  return body;
}

/** GET every page from `path`, following `next`; returns the pages. */
async function walk(who: ReturnType<typeof as>, path: string): Promise<SharesBody[]> {
  const pages: SharesBody[] = [];
  let at: string | undefined = path;
  while (at !== undefined) {
    expect(pages.length).toBeLessThan(50);
    const body: SharesBody = await okJson<SharesBody>(await who.get(at));
    pages.push(body);
    at = body.next;
  }
  return pages;
}

const future = (days = 1) => `${new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 19)}Z`;
const b64url = (s: string) => btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

/**
 * A little world: `owner` owns A (shared) and B (private). A is shared with `member` (pending)
 * and `third` (accepted); B with `member` (rejected). `member` owns C, shared with `other`.
 */
async function world() {
  const owner = project("owner");
  const member = project("member");
  const third = project("third");
  const other = project("other");
  const A = await image(owner, "shared");
  const B = await image(owner, "private");
  const C = await image(member, "shared");
  await addMember(owner, A.id, member);
  await addMember(owner, A.id, third);
  await setStatus(third, A.id, "accepted");
  await addMember(owner, B.id, member);
  await setStatus(member, B.id, "rejected");
  await addMember(member, C.id, other);
  return { owner, member, third, other, A, B, C };
}

describe("GET /v2/shares: who sees what (docs/reference.md §12.2)", () => {
  it("a non-admin sees its inbox (every status) and what it shared, nothing else", async () => {
    const w = await world();
    // member: its inbox (A pending, B rejected) and what it shared (C → other); not third's row of A.
    await expectShares(
      await as(w.member).get("/v2/shares"),
      [
        await share(w.A, w.member, "pending"),
        await share(w.B, w.member, "rejected"),
        await share(w.C, w.other, "pending"),
      ],
      "/v2/shares",
    );
    // owner: everything it shared, whoever the member.
    await expectShares(
      await as(w.owner).get("/v2/shares"),
      [
        await share(w.A, w.member, "pending"),
        await share(w.A, w.third, "accepted"),
        await share(w.B, w.member, "rejected"),
      ],
      "/v2/shares",
    );
    // third: only its own row of A, not member's row of the same image.
    await expectShares(
      await as(w.third).get("/v2/shares"),
      [await share(w.A, w.third, "accepted")],
      "/v2/shares",
    );
    await expectShares(
      await as(w.other).get("/v2/shares"),
      [await share(w.C, w.other, "pending")],
      "/v2/shares",
    );
    // A project with nothing shared sees nothing.
    await expectShares(await as(project("nobody")).get("/v2/shares"), [], "/v2/shares");
  });

  it("a reader-only project sees its listing too (get_shares is role:reader)", async () => {
    const w = await world();
    await expectShares(
      await as(w.third, ["reader"]).get("/v2/shares"),
      [await share(w.A, w.third, "accepted")],
      "/v2/shares",
    );
  });

  it("the owner adding its own project: the row is listed once", async () => {
    const owner = project("owner");
    const A = await image(owner);
    await addMember(owner, A.id, owner);
    await addMember(owner, A.id, "someone-else");
    const body = await expectShares(
      await as(owner).get(`/v2/shares?image_id=${A.id}`),
      [await share(A, owner, "pending"), await share(A, "someone-else", "pending")],
      `/v2/shares?image_id=${A.id}`,
    );
    expect(body.shares).toHaveLength(2);
  });

  it("an admin sees every membership (isolated here with filters)", async () => {
    const w = await world();
    const boss = admin();
    await expectShares(
      await boss.get(`/v2/shares?owner=${w.owner}`),
      [
        await share(w.A, w.member, "pending"),
        await share(w.A, w.third, "accepted"),
        await share(w.B, w.member, "rejected"),
      ],
      `/v2/shares?owner=${w.owner}`,
    );
    await expectShares(
      await boss.get(`/v2/shares?member_id=${w.member}`),
      [await share(w.A, w.member, "pending"), await share(w.B, w.member, "rejected")],
      `/v2/shares?member_id=${w.member}`,
    );
    await expectShares(
      await boss.get(`/v2/shares?owner=${w.member}`),
      [await share(w.C, w.other, "pending")],
      `/v2/shares?owner=${w.member}`,
    );
    await expectShares(
      await boss.get(`/v2/shares?image_id=${w.A.id}`),
      [await share(w.A, w.member, "pending"), await share(w.A, w.third, "accepted")],
      `/v2/shares?image_id=${w.A.id}`,
    );
  });

  it("share objects: keys in reference order; expires_at only when set, last", async () => {
    const owner = project("owner");
    const A = await image(owner);
    const until = future(3);
    const post = await as(owner).post("/v2/shares", {
      images: [A.id],
      members: ["expiring"],
      expires_at: until,
    });
    expect(post.status, await post.clone().text()).toBe(200);
    await addMember(owner, A.id, "forever");
    const body = await expectShares(
      await as(owner).get("/v2/shares"),
      [await share(A, "expiring", "pending"), await share(A, "forever", "pending")],
      "/v2/shares",
    );
    const expiring = body.shares.find((s) => s.member_id === "expiring");
    const forever = body.shares.find((s) => s.member_id === "forever");
    expect(expiring?.expires_at).toBe(until);
    expect(Object.keys(expiring ?? {})).toEqual([...SHARE_KEYS, "expires_at"]);
    expect(Object.keys(forever ?? {})).toEqual(SHARE_KEYS);
  });

  it("an image that no longer takes members (public, community) drops out of every listing", async () => {
    const w = await world();
    const boss = admin();
    const publicize = await boss.patch(`/v2/images/${w.A.id}`, [
      { op: "replace", path: "/visibility", value: "public" },
    ]);
    expect(publicize.status, await publicize.clone().text()).toBe(200);
    await expectShares(
      await as(w.owner).get("/v2/shares"),
      [await share(w.B, w.member, "rejected")],
      "/v2/shares",
    );
    await expectShares(
      await as(w.member).get("/v2/shares"),
      [await share(w.B, w.member, "rejected"), await share(w.C, w.other, "pending")],
      "/v2/shares",
    );
    await expectShares(await as(w.third).get("/v2/shares"), [], "/v2/shares");
    await expectShares(
      await boss.get(`/v2/shares?owner=${w.owner}`),
      [await share(w.B, w.member, "rejected")],
      `/v2/shares?owner=${w.owner}`,
    );
    const communitize = await boss.patch(`/v2/images/${w.B.id}`, [
      { op: "replace", path: "/visibility", value: "community" },
    ]);
    expect(communitize.status, await communitize.clone().text()).toBe(200);
    await expectShares(await as(w.owner).get("/v2/shares"), [], "/v2/shares");
    await expectShares(
      await as(w.member).get("/v2/shares"),
      [await share(w.C, w.other, "pending")],
      "/v2/shares",
    );
    await expectShares(await boss.get(`/v2/shares?owner=${w.owner}`), [], `/v2/shares?owner=${w.owner}`);
    // Back to shared: the memberships are there again (they were never removed).
    const back = await boss.patch(`/v2/images/${w.A.id}`, [
      { op: "replace", path: "/visibility", value: "shared" },
    ]);
    expect(back.status).toBe(200);
    await expectShares(
      await as(w.third).get("/v2/shares"),
      [await share(w.A, w.third, "accepted")],
      "/v2/shares",
    );
  });

  it("expired memberships are not listed, to anyone", async () => {
    const w = await world();
    await env.DB.prepare(
      "UPDATE image_members SET expires_at = '2000-01-01T00:00:00Z' WHERE image_id = ? AND member_id = ?",
    )
      .bind(w.A.id, w.member)
      .run();
    await expectShares(
      await as(w.member).get("/v2/shares"),
      [await share(w.B, w.member, "rejected"), await share(w.C, w.other, "pending")],
      "/v2/shares",
    );
    await expectShares(
      await as(w.owner).get("/v2/shares"),
      [await share(w.A, w.third, "accepted"), await share(w.B, w.member, "rejected")],
      "/v2/shares",
    );
    await expectShares(
      await admin().get(`/v2/shares?image_id=${w.A.id}`),
      [await share(w.A, w.third, "accepted")],
      `/v2/shares?image_id=${w.A.id}`,
    );
  });
});

describe("GET /v2/shares: filters (docs/reference.md §12.2)", () => {
  it("member_id, owner, image_id (any case) and status narrow the caller's listing", async () => {
    const w = await world();
    // The owner's listing, one member.
    await expectShares(
      await as(w.owner).get(`/v2/shares?member_id=${w.third}`),
      [await share(w.A, w.third, "accepted")],
      `/v2/shares?member_id=${w.third}`,
    );
    // The member's listing: its inbox from `owner`, or what it shared itself.
    await expectShares(
      await as(w.member).get(`/v2/shares?owner=${w.owner}`),
      [await share(w.A, w.member, "pending"), await share(w.B, w.member, "rejected")],
      `/v2/shares?owner=${w.owner}`,
    );
    await expectShares(
      await as(w.member).get(`/v2/shares?owner=${w.member}`),
      [await share(w.C, w.other, "pending")],
      `/v2/shares?owner=${w.member}`,
    );
    // A filter never widens: third's row is not the member's, even asked for by name.
    await expectShares(
      await as(w.member).get(`/v2/shares?member_id=${w.third}`),
      [],
      `/v2/shares?member_id=${w.third}`,
    );
    // image_id in upper case still matches (ids are canonically lower case).
    const upper = w.A.id.toUpperCase();
    await expectShares(
      await as(w.owner).get(`/v2/shares?image_id=${upper}`),
      [await share(w.A, w.member, "pending"), await share(w.A, w.third, "accepted")],
      `/v2/shares?image_id=${upper}`,
    );
    // Not an image id: nothing, not an error.
    await expectShares(
      await as(w.owner).get("/v2/shares?image_id=not-an-id"),
      [],
      "/v2/shares?image_id=not-an-id",
    );
    await expectShares(
      await as(w.owner).get("/v2/shares?status=pending"),
      [await share(w.A, w.member, "pending")],
      "/v2/shares?status=pending",
    );
    await expectShares(
      await as(w.owner).get("/v2/shares?status=accepted"),
      [await share(w.A, w.third, "accepted")],
      "/v2/shares?status=accepted",
    );
    await expectShares(
      await as(w.owner).get("/v2/shares?status=rejected"),
      [await share(w.B, w.member, "rejected")],
      "/v2/shares?status=rejected",
    );
    await expectShares(
      await as(w.owner).get("/v2/shares?status=all"),
      [
        await share(w.A, w.member, "pending"),
        await share(w.A, w.third, "accepted"),
        await share(w.B, w.member, "rejected"),
      ],
      "/v2/shares?status=all",
    );
    // Filters combine.
    await expectShares(
      await as(w.owner).get(`/v2/shares?member_id=${w.member}&status=rejected&image_id=${w.B.id}`),
      [await share(w.B, w.member, "rejected")],
      `/v2/shares?member_id=${w.member}&status=rejected&image_id=${w.B.id}`,
    );
    await expectShares(
      await as(w.owner).get(`/v2/shares?member_id=${w.member}&status=accepted`),
      [],
      `/v2/shares?member_id=${w.member}&status=accepted`,
    );
  });

  it("bad query parameters: 400 with the exact text", async () => {
    const p = as(project());
    await expectError(await p.get("/v2/shares?status=x"), 400, "Invalid status value: x");
    await expectError(await p.get("/v2/shares?status=PENDING"), 400, "Invalid status value: PENDING");
    await expectError(await p.get("/v2/shares?status="), 400, "Invalid status value: ");
    await expectError(await p.get("/v2/shares?foo=1"), 400, "Unknown filter: foo.");
    await expectError(await p.get("/v2/shares?visibility=shared"), 400, "Unknown filter: visibility.");
    await expectError(
      await p.get("/v2/shares?member_id=a&member_id=b"),
      400,
      "Parameter member_id must be given once.",
    );
    await expectError(await p.get("/v2/shares?owner=a&owner=a"), 400, "Parameter owner must be given once.");
    await expectError(
      await p.get("/v2/shares?image_id=a&image_id=b"),
      400,
      "Parameter image_id must be given once.",
    );
    await expectError(await p.get("/v2/shares?limit=1&limit=2"), 400, "Parameter limit must be given once.");
    await expectError(
      await p.get("/v2/shares?marker=a&marker=b"),
      400,
      "Parameter marker must be given once.",
    );
    await expectError(
      await p.get("/v2/shares?status=pending&status=accepted"),
      400,
      "Parameter status must be given once.",
    );
  });
});

describe("GET /v2/shares: order and pages (docs/reference.md §12.2)", () => {
  /** Memberships with chosen created_at, so that time, image id and member id all decide. */
  async function seeded() {
    const owner = project("pager");
    const imgs = [await image(owner), await image(owner), await image(owner)];
    const [I0, I1, I2] = imgs as [Img, Img, Img];
    const rows: [Img, string, string][] = [
      [I0, "m-b", "2021-01-01T00:00:02Z"],
      [I0, "m-a", "2021-01-01T00:00:02Z"],
      [I1, "m-a", "2021-01-01T00:00:01Z"],
      [I2, "m-c", "2021-01-01T00:00:01Z"],
      [I2, "m-a", "2021-01-01T00:00:03Z"],
      [I1, "m-z", "2021-01-01T00:00:00Z"],
      [I0, "m-c", "2021-01-01T00:00:01Z"],
    ];
    await env.DB.batch(
      rows.map(([img, m, at]) =>
        env.DB.prepare(
          "INSERT INTO image_members (image_id, member_id, status, created_at, updated_at) VALUES (?, ?, 'pending', ?, ?)",
        ).bind(img.id, m, at, at),
      ),
    );
    const expected: Share[] = [];
    for (const [img, m] of rows) expected.push(await share(img, m, "pending"));
    expected.sort(byKey);
    return { owner, imgs, expected };
  }

  it("orders by created_at, then image_id, then member_id", async () => {
    const { owner, expected } = await seeded();
    const body = await expectShares(await as(owner).get("/v2/shares"), expected, "/v2/shares");
    // The earliest row comes first whatever its ids: created_at leads.
    expect(body.shares[0]?.member_id).toBe("m-z");
    expect(body.shares.at(-1)?.created_at).toBe("2021-01-01T00:00:03Z");
  });

  it("limit=2 walks every row exactly once, in order, via next; first drops the marker", async () => {
    const { owner, expected } = await seeded();
    const pages = await walk(as(owner), "/v2/shares?limit=2");
    expect(pages.map((p) => p.shares.length)).toEqual([2, 2, 2, 1]);
    for (const [n, p] of pages.entries()) {
      expect(p.first).toBe("/v2/shares?limit=2");
      expect(p.schema).toBe(SCHEMA);
      const last = n === pages.length - 1;
      expect(Object.keys(p)).toEqual(
        last ? ["shares", "first", "schema"] : ["shares", "first", "next", "schema"],
      );
      if (!last) expect(p.next).toMatch(/^\/v2\/shares\?limit=2&marker=[A-Za-z0-9_-]+$/);
      for (const s of p.shares) expectShareKeys(s);
    }
    expect(pages.flatMap((p) => p.shares)).toStrictEqual(expected);
  });

  it("pages keep the filters; a full last page has next, the page after it is empty", async () => {
    const { owner, expected, imgs } = await seeded();
    const I0 = (imgs[0] as Img).id;
    const ofI0 = expected.filter((s) => s.image_id === I0);
    expect(ofI0).toHaveLength(3);
    const pages = await walk(as(owner), `/v2/shares?image_id=${I0}&limit=1`);
    expect(pages.map((p) => p.shares.length)).toEqual([1, 1, 1, 0]);
    expect(pages.flatMap((p) => p.shares)).toStrictEqual(ofI0);
    expect(pages.every((p) => p.first === `/v2/shares?image_id=${I0}&limit=1`)).toBe(true);
    const full = await walk(as(owner), "/v2/shares?limit=7");
    expect(full.map((p) => p.shares.length)).toEqual([7, 0]);
    expect(full[1]).toStrictEqual({ shares: [], first: "/v2/shares?limit=7", schema: SCHEMA });
  });

  it("limit defaults to 25", async () => {
    const owner = project("owner");
    const A = await image(owner);
    const members = Array.from({ length: 26 }, (_, n) => `d-${String(n).padStart(2, "0")}`);
    const post = await as(owner).post("/v2/shares", { images: [A.id], members });
    expect(post.status, await post.clone().text()).toBe(200);
    const pages = await walk(as(owner), "/v2/shares");
    expect(pages.map((p) => p.shares.length)).toEqual([25, 1]);
    expect(pages[0]?.first).toBe("/v2/shares");
    expect(pages[0]?.next).toMatch(/^\/v2\/shares\?marker=[A-Za-z0-9_-]+$/);
    const all: Share[] = [];
    for (const m of members) all.push(await share(A, m, "pending"));
    expect(pages.flatMap((p) => p.shares)).toStrictEqual(all.sort(byKey));
  });

  it("limit over 1000 is 1000", async () => {
    const owner = project("owner");
    const A = await image(owner);
    await env.DB.prepare(
      `WITH RECURSIVE n(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM n WHERE x < 1000)
       INSERT INTO image_members (image_id, member_id, status, created_at, updated_at)
       SELECT ?1, printf('bulk-%04d', x), 'pending', '2022-02-02T00:00:00Z', '2022-02-02T00:00:00Z' FROM n`,
    )
      .bind(A.id)
      .run();
    const first = await okJson<SharesBody>(await as(owner).get("/v2/shares?limit=5000"));
    expect(first.shares).toHaveLength(1000);
    expect(first.first).toBe("/v2/shares?limit=5000");
    expect(first.shares[0]?.member_id).toBe("bulk-0000");
    expect(first.shares[999]?.member_id).toBe("bulk-0999");
    expect(first.next).toBeDefined();
    const second = await okJson<SharesBody>(await as(owner).get(first.next as string));
    expect(second.shares.map((s) => s.member_id)).toEqual(["bulk-1000"]);
    expect(second.next).toBeUndefined();
  });

  it("bad limit and marker: 400", async () => {
    const p = as(project());
    await expectError(await p.get("/v2/shares?limit=abc"), 400, "limit param must be an integer");
    await expectError(await p.get("/v2/shares?limit=-1"), 400, "limit param must be an integer");
    await expectError(await p.get("/v2/shares?limit=1.5"), 400, "limit param must be an integer");
    await expectError(await p.get("/v2/shares?limit="), 400, "limit param must be an integer");
    await expectError(await p.get("/v2/shares?marker=not*a*marker"), 400, "Invalid marker.");
    await expectError(await p.get("/v2/shares?marker="), 400, "Invalid marker.");
    // Well-formed base64url, but not the listing's key.
    await expectError(await p.get(`/v2/shares?marker=${b64url('["a"]')}`), 400, "Invalid marker.");
    await expectError(await p.get(`/v2/shares?marker=${b64url("[1,2,3]")}`), 400, "Invalid marker.");
    await expectError(await p.get(`/v2/shares?marker=${b64url("{}")}`), 400, "Invalid marker.");
    await expectError(await p.get(`/v2/shares?marker=${b64url("not json")}`), 400, "Invalid marker.");
    // A marker of GET /v2/member-events (one number) is not one of ours either.
    await expectError(await p.get(`/v2/shares?marker=${b64url("[42]")}`), 400, "Invalid marker.");
  });
});

describe("GET /v2/shares: rule get_shares (docs/reference.md §11, §12.2)", () => {
  const DENY = { POLICY_OVERRIDES: JSON.stringify({ get_shares: "!" }) };

  it("secure-rbac: a caller without reader (or admin) is 403", async () => {
    const w = await world();
    await expectError(await as(w.member, ["foo"]).get("/v2/shares"), 403, notAuthorized("get_shares"));
    await expectError(await as(w.member, []).get("/v2/shares"), 403, notAuthorized("get_shares"));
    // Refused before the query is looked at.
    await expectError(
      await as(w.member, ["foo"]).get("/v2/shares?status=bogus&limit=1"),
      400,
      "Invalid status value: bogus",
    );
    await expectShares(
      await as(w.third, ["reader"]).get("/v2/shares"),
      [await share(w.A, w.third, "accepted")],
      "/v2/shares",
    );
  });

  it("POLICY_OVERRIDES get_shares '!' denies everyone, admins included; POST is not get_shares", async () => {
    const w = await world();
    await expectError(
      await as(w.member, ["member", "reader"], DENY).get("/v2/shares"),
      403,
      notAuthorized("get_shares"),
    );
    await expectError(
      await as(project("admin"), ["admin", "member", "reader"], DENY).get("/v2/shares"),
      403,
      notAuthorized("get_shares"),
    );
    const post = await as(w.owner, ["member", "reader"], DENY).post("/v2/shares", {
      images: [w.A.id],
      members: [w.member],
    });
    expect(post.status, await post.clone().text()).toBe(200);
  });

  it("an override can widen or narrow it", async () => {
    const w = await world();
    const adminOnly = { POLICY_OVERRIDES: JSON.stringify({ get_shares: "rule:context_is_admin" }) };
    await expectError(
      await as(w.third, ["reader"], adminOnly).get("/v2/shares"),
      403,
      notAuthorized("get_shares"),
    );
    const anyone = { POLICY_OVERRIDES: JSON.stringify({ get_shares: "@" }) };
    await expectShares(
      await as(w.third, ["foo"], anyone).get("/v2/shares"),
      [await share(w.A, w.third, "accepted")],
      "/v2/shares",
    );
  });

  it("legacy: anyone may list (still only its own shares)", async () => {
    const w = await world();
    await expectShares(
      await as(w.third, ["foo"], LEGACY).get("/v2/shares"),
      [await share(w.A, w.third, "accepted")],
      "/v2/shares",
    );
    await expectShares(
      await as(w.member, [], LEGACY).get("/v2/shares"),
      [
        await share(w.A, w.member, "pending"),
        await share(w.B, w.member, "rejected"),
        await share(w.C, w.other, "pending"),
      ],
      "/v2/shares",
    );
  });

  it("no project: 401", async () => {
    const res = await as(null).get("/v2/shares");
    expect(res.status).toBe(401);
  });
});

describe("/v2/shares: schema document and methods", () => {
  it("GET /v2/schemas/shares is served", async () => {
    const body = await okJson<typeof sharesSchema>(await as(project()).get("/v2/schemas/shares"));
    expect(body).toStrictEqual(sharesSchema);
    expect(body.name).toBe("shares");
    expect(body.properties.shares.items.required).toEqual(SHARE_KEYS);
    expect(Object.keys(body.properties)).toEqual(["shares", "first", "next", "schema"]);
  });

  it("other methods: 405 with Allow GET, POST", async () => {
    const p = as(project());
    for (const res of [
      await p.put("/v2/shares", {}),
      await p.delete("/v2/shares"),
      await p.patchJson("/v2/shares", {}),
    ]) {
      await expectError(res, 405, "The method is not allowed for the requested URL.");
      expect(res.headers.get("Allow")).toBe("GET, POST");
    }
  });
});

/* ------------------------------------------------------------------------------------------ */

/** The POST answer's share objects, checked for keys and `created`. */
async function bulkOk(res: Response): Promise<Share[]> {
  const body = await okJson<{ shares: Share[] }>(res);
  expect(Object.keys(body)).toEqual(["shares"]);
  for (const s of body.shares) expectShareKeys(s, ["created"]);
  return body.shares;
}

/** What POST /v2/shares must answer for this pair: its share object with `created`. */
async function bulkShare(img: Img, member: string, status: string, created: boolean): Promise<Share> {
  return { ...(await share(img, member, status)), created };
}

/** POST /v2/shares as `who`, with these vars. */
const postShares = (who: Who, body: unknown, vars?: Partial<Cloudflare.Env>) =>
  call("POST", "/v2/shares", { who, body, vars });

describe("POST /v2/shares: what it creates (docs/reference.md §12.3)", () => {
  it("creates every missing pair as pending, leaves existing ones, answers in request order", async () => {
    const owner = project("owner");
    const a = project("a");
    const b = project("b");
    const I1 = await image(owner);
    const I2 = await image(owner, "private");
    await addMember(owner, I1.id, b);
    await setStatus(b, I1.id, "accepted");
    const before = await memberRow(I1.id, b);
    const shares = await bulkOk(
      await as(owner).post("/v2/shares", { images: [I2.id, I1.id], members: [b, a] }),
    );
    expect(shares).toStrictEqual([
      await bulkShare(I2, b, "pending", true),
      await bulkShare(I2, a, "pending", true),
      await bulkShare(I1, b, "accepted", false),
      await bulkShare(I1, a, "pending", true),
    ]);
    // The existing membership is untouched: same status and timestamps.
    expect(await memberRow(I1.id, b)).toStrictEqual(before);
    for (const s of shares) {
      expect(s.created_at).toMatch(TS);
      expect(s.updated_at).toMatch(TS);
    }
    // Asked again: nothing new, everything as it is.
    const again = await bulkOk(
      await as(owner).post("/v2/shares", { images: [I1.id, I2.id], members: [a, b] }),
    );
    expect(again).toStrictEqual([
      await bulkShare(I1, a, "pending", false),
      await bulkShare(I1, b, "accepted", false),
      await bulkShare(I2, a, "pending", false),
      await bulkShare(I2, b, "pending", false),
    ]);
    // Each member sees the image (docs/reference.md §4: a membership in any status makes it visible).
    expect((await as(a).get(`/v2/images/${I2.id}`)).status).toBe(200);
  });

  it("duplicates are ignored, an image id in upper and lower case counts once", async () => {
    const owner = project("owner");
    const I1 = await image(owner);
    const I2 = await image(owner);
    const shares = await bulkOk(
      await as(owner).post("/v2/shares", {
        images: [I1.id.toUpperCase(), I2.id, I1.id, I2.id],
        members: ["x", "y", "x", "y", "x"],
      }),
    );
    expect(shares).toStrictEqual([
      await bulkShare(I1, "x", "pending", true),
      await bulkShare(I1, "y", "pending", true),
      await bulkShare(I2, "x", "pending", true),
      await bulkShare(I2, "y", "pending", true),
    ]);
    const n = await env.DB.prepare("SELECT COUNT(*) AS n FROM image_members WHERE image_id IN (?, ?)")
      .bind(I1.id, I2.id)
      .first<{ n: number }>();
    expect(n?.n).toBe(4);
  });

  it("member ids are opaque: case-sensitive, kept as written", async () => {
    const owner = project("owner");
    const I = await image(owner);
    const shares = await bulkOk(
      await as(owner).post("/v2/shares", { images: [I.id], members: ["Proj", "proj", " proj"] }),
    );
    expect(shares.map((s) => s.member_id)).toEqual(["Proj", "proj", " proj"]);
    expect(shares.every((s) => s.created)).toBe(true);
  });

  it("expires_at applies to the created memberships only", async () => {
    const owner = project("owner");
    const I = await image(owner);
    await addMember(owner, I.id, "old");
    const until = future(7);
    const shares = await bulkOk(
      await as(owner).post("/v2/shares", { images: [I.id], members: ["old", "new"], expires_at: until }),
    );
    expect(shares).toStrictEqual([
      await bulkShare(I, "old", "pending", false),
      await bulkShare(I, "new", "pending", true),
    ]);
    expect(shares[0]).not.toHaveProperty("expires_at");
    expect(shares[1]?.expires_at).toBe(until);
    expect(Object.keys(shares[1] ?? {})).toEqual([...SHARE_KEYS, "expires_at", "created"]);
    // The member object says so too (docs/reference.md §12.1).
    const shown = await okJson<Record<string, unknown>>(
      await as(owner).get(`/v2/images/${I.id}/members/new`),
    );
    expect(shown.expires_at).toBe(until);
    // null: never.
    const never = await bulkOk(
      await as(owner).post("/v2/shares", { images: [I.id], members: ["never"], expires_at: null }),
    );
    expect(never).toStrictEqual([await bulkShare(I, "never", "pending", true)]);
    expect(never[0]).not.toHaveProperty("expires_at");
  });

  it("an expired membership is replaced by a fresh pending one (created: true)", async () => {
    const owner = project("owner");
    const m = project("m");
    const I = await image(owner);
    await addMember(owner, I.id, m);
    await setStatus(m, I.id, "accepted");
    await env.DB.prepare(
      "UPDATE image_members SET expires_at = '2000-01-01T00:00:00Z', created_at = '1999-01-01T00:00:00Z' WHERE image_id = ? AND member_id = ?",
    )
      .bind(I.id, m)
      .run();
    const shares = await bulkOk(await as(owner).post("/v2/shares", { images: [I.id], members: [m] }));
    expect(shares).toStrictEqual([await bulkShare(I, m, "pending", true)]);
    expect(shares[0]?.created_at).not.toBe("1999-01-01T00:00:00Z");
    expect(shares[0]).not.toHaveProperty("expires_at");
    const events = await env.DB.prepare(
      "SELECT action, status FROM member_events WHERE image_id = ? AND member_id = ? ORDER BY id",
    )
      .bind(I.id, m)
      .all<{ action: string; status: string }>();
    expect(events.results).toEqual([
      { action: "create", status: "pending" },
      { action: "update", status: "accepted" },
      { action: "update", status: "accepted" },
      { action: "expire", status: "accepted" },
      { action: "create", status: "pending" },
    ]);
  });

  it("an expires_at that passes while the batch runs: 200 with what was written, never a 500", async () => {
    // expires_at is checked against the Worker's clock; the batch runs afterwards on D1's. A
    // 100 × 100 batch takes a while: sent ~0.1 s before a second boundary with that boundary as
    // expires_at, it is valid when checked and past by the time the batch reads its rows back.
    // The memberships were written (rows, create records): the answer must say so (200,
    // created: true), as POST …/members does for such a member, not 500.
    const owner = project("owner");
    const ids: string[] = [];
    for (let batch = 0; batch < 5; batch++) {
      ids.push(...(await Promise.all(Array.from({ length: 20 }, () => createImage(owner)))));
    }
    const writtenWith = async (at: string) =>
      (
        await env.DB.prepare(
          "SELECT COUNT(*) AS n FROM image_members WHERE expires_at = ?1 AND image_id IN (SELECT id FROM images WHERE owner = ?2)",
        )
          .bind(at, owner)
          .first<{ n: number }>()
      )?.n;
    for (let attempt = 0; attempt < 4; attempt++) {
      // Later attempts leave more room, in case this machine checks expires_at late.
      const [from, to] = [850 - 150 * attempt, 900 - 150 * attempt];
      while (Date.now() % 1000 < from || Date.now() % 1000 > to) await new Promise((r) => setTimeout(r, 5));
      const at = `${new Date(Math.ceil(Date.now() / 1000) * 1000).toISOString().slice(0, 19)}Z`;
      const members = Array.from({ length: 100 }, (_, n) => `edge-${attempt}-${n}`);
      const res = await as(owner).post("/v2/shares", { images: ids, members, expires_at: at });
      const text = await res.text();
      const written = await writtenWith(at);
      if (res.status === 400) {
        expect(JSON.parse(text).message).toBe("Invalid expires_at: must be in the future.");
        expect(written).toBe(0);
        continue;
      }
      expect(res.status, `${text.slice(0, 200)}; rows written: ${written}`).toBe(200);
      const shares = (JSON.parse(text) as { shares: Share[] }).shares;
      expect(shares).toHaveLength(10_000);
      expect(shares.map((s) => `${s.image_id}|${s.member_id}`)).toEqual(
        ids.flatMap((id) => members.map((m) => `${id}|${m}`)),
      );
      expect(shares.every((s) => s.created === true && s.expires_at === at && s.status === "pending")).toBe(
        true,
      );
      expect(written).toBe(10_000);
      return;
    }
    throw new Error("expires_at was refused on every attempt: this machine checks it too late to test");
  }, 60_000);

  it("an admin may share any project's shared or private image", async () => {
    const owner = project("owner");
    const I = await image(owner, "private");
    const shares = await bulkOk(await admin().post("/v2/shares", { images: [I.id], members: ["via-admin"] }));
    expect(shares).toStrictEqual([await bulkShare(I, "via-admin", "pending", true)]);
  });

  it("the owner may add its own project", async () => {
    const owner = project("owner");
    const I = await image(owner);
    const shares = await bulkOk(await as(owner).post("/v2/shares", { images: [I.id], members: [owner] }));
    expect(shares).toStrictEqual([await bulkShare(I, owner, "pending", true)]);
  });
});

describe("POST /v2/shares: all or nothing (docs/reference.md §12.3)", () => {
  const MEMBERS = ["m1", "m2", "m3"];

  /** Five images of `owner`, the third replaced by `bad`; asserts the answer and that nothing changed. */
  async function refusedAt(
    who: ReturnType<typeof as>,
    owner: string,
    bad: string,
    status: number,
    message: string,
    { members = MEMBERS, also }: { members?: string[]; also?: (images: string[]) => void } = {},
  ) {
    const images: string[] = [];
    for (let n = 0; n < 5; n++) images.push((await image(owner)).id);
    images[2] = bad;
    also?.(images);
    const before = await dump();
    await expectError(await who.post("/v2/shares", { images, members }), status, message);
    expect(await dump()).toBe(before);
    return images;
  }

  it("an unknown image: 404 with the id as the client wrote it", async () => {
    const owner = project("owner");
    const unknown = crypto.randomUUID().toUpperCase();
    await refusedAt(as(owner), owner, unknown, 404, `Image ${unknown} not found.`);
  });

  it("a malformed image id: 404", async () => {
    const owner = project("owner");
    await refusedAt(as(owner), owner, "not-a-uuid", 404, "Image not-a-uuid not found.");
    await refusedAt(as(owner), owner, "", 404, "Image  not found.");
  });

  it("another project's image the caller cannot see: 404, as a single add answers", async () => {
    const owner = project("owner");
    const hidden = await image(project("stranger"));
    await refusedAt(as(owner), owner, hidden.id, 404, `Image ${hidden.id} not found.`);
    await expectError(
      await as(owner).post(`/v2/images/${hidden.id}/members`, { member_id: "m1" }),
      404,
      `Image ${hidden.id} not found.`,
    );
  });

  it("a public or community image: 403", async () => {
    const owner = project("owner");
    const pub = await image(owner);
    const res = await admin().patch(`/v2/images/${pub.id}`, [
      { op: "replace", path: "/visibility", value: "public" },
    ]);
    expect(res.status).toBe(200);
    await refusedAt(as(owner), owner, pub.id, 403, notAllowedCreate(pub.id));
    const com = await image(owner);
    const res2 = await as(owner).patch(`/v2/images/${com.id}`, [
      { op: "replace", path: "/visibility", value: "community" },
    ]);
    expect(res2.status, await res2.clone().text()).toBe(200);
    await refusedAt(as(owner), owner, com.id.toUpperCase(), 403, notAllowedCreate(com.id.toUpperCase()));
  });

  it("another project's image the caller is a member of: 403 add_member (secure-rbac)", async () => {
    const owner = project("owner");
    const other = await image(project("other"));
    await addMember(other.owner, other.id, owner);
    await refusedAt(as(owner), owner, other.id, 403, notAuthorized("add_member"));
    await expectError(
      await as(owner).post(`/v2/images/${other.id}/members`, { member_id: "m1" }),
      403,
      notAuthorized("add_member"),
    );
  });

  it("another project's image the caller is a member of: 403 Glance's legacy text", async () => {
    const owner = project("owner");
    const other = await image(project("other"));
    await addMember(other.owner, other.id, owner);
    await refusedAt(
      as(owner, ["member", "reader"], LEGACY),
      owner,
      other.id,
      403,
      notAllowedCreate(other.id),
    );
    // Legacy: roles do not matter for the owner.
    const mine = await image(owner);
    const shares = await bulkOk(
      await as(owner, ["foo"], LEGACY).post("/v2/shares", { images: [mine.id], members: ["legacy-m"] }),
    );
    expect(shares).toStrictEqual([await bulkShare(mine, "legacy-m", "pending", true)]);
  });

  it("a reader-only caller: 403 add_member, nothing written", async () => {
    const owner = project("owner");
    const mine = await image(owner);
    await refusedAt(as(owner, ["reader"]), owner, mine.id, 403, notAuthorized("add_member"));
  });

  it("a caller without reader (get_image fails on its own image): as a single add answers", async () => {
    const owner = project("owner");
    const mine = await image(owner);
    const single = await as(owner, ["foo"]).post(`/v2/images/${mine.id}/members`, { member_id: "m1" });
    const singleText = await single.text();
    const { message } = JSON.parse(singleText) as { message: string };
    expect(single.status, singleText).toBeGreaterThanOrEqual(400);
    await refusedAt(as(owner, ["foo"]), owner, mine.id, single.status, message);
  });

  it("POLICY_OVERRIDES add_member: the batch and its explanation agree, per image", async () => {
    const owner = project("owner");
    const vars = {
      POLICY_OVERRIDES: JSON.stringify({ add_member: "role:member and 'yes':%(shareable)s" }),
    };
    const ok1 = (await createImage(owner, { shareable: "yes" })) as string;
    const ok2 = (await createImage(owner, { shareable: "yes", visibility: "private" })) as string;
    const no = (await createImage(owner, { shareable: "no" })) as string;
    const before = await dump();
    await expectError(
      await as(owner, ["member", "reader"], vars).post("/v2/shares", {
        images: [ok1, no, ok2],
        members: ["pm"],
      }),
      403,
      notAuthorized("add_member"),
    );
    expect(await dump()).toBe(before);
    const shares = await bulkOk(
      await as(owner, ["member", "reader"], vars).post("/v2/shares", { images: [ok2, ok1], members: ["pm"] }),
    );
    expect(shares.map((s) => [s.image_id, s.created])).toEqual([
      [ok2, true],
      [ok1, true],
    ]);
    // A rule that denies all: 403 on the first image, nothing written.
    const deny = { POLICY_OVERRIDES: JSON.stringify({ add_member: "!" }) };
    const before2 = await dump();
    await expectError(
      await as(owner, ["member", "reader"], deny).post("/v2/shares", { images: [ok1], members: ["pm2"] }),
      403,
      notAuthorized("add_member"),
    );
    expect(await dump()).toBe(before2);
  });

  it("the quota: 413 with that image's numbers; existing members do not count as new", async () => {
    const owner = project("owner");
    const quota3 = as(owner, ["member", "reader"], { IMAGE_MEMBER_QUOTA: "3" });
    const full = await image(owner);
    await addMember(owner, full.id, "x1");
    await addMember(owner, full.id, "x2");
    // 2 existing + 3 new = 5 > 3.
    await refusedAt(quota3, owner, full.id, 413, quotaText(full.id, 5, 3));
    // m1 already a member: 2 existing (x1, m1) + 2 new = 4 > 3.
    const partly = await image(owner);
    await addMember(owner, partly.id, "x1");
    await addMember(owner, partly.id, "m1");
    await refusedAt(quota3, owner, partly.id, 413, quotaText(partly.id, 4, 3));
    // 1 existing (m1) + 2 new = 3: fits exactly.
    const fits = await image(owner);
    await addMember(owner, fits.id, "m1");
    const shares = await bulkOk(await quota3.post("/v2/shares", { images: [fits.id], members: MEMBERS }));
    expect(shares).toStrictEqual([
      await bulkShare(fits, "m1", "pending", false),
      await bulkShare(fits, "m2", "pending", true),
      await bulkShare(fits, "m3", "pending", true),
    ]);
    // Already over a (lowered) quota but nothing new for it: nothing to refuse.
    const quota1 = as(owner, ["member", "reader"], { IMAGE_MEMBER_QUOTA: "1" });
    const again = await bulkOk(await quota1.post("/v2/shares", { images: [fits.id], members: ["m3", "m1"] }));
    expect(again.map((s) => s.created)).toEqual([false, false]);
    // Quota 0 allows none; a negative quota is unlimited.
    const zero = as(owner, ["member", "reader"], { IMAGE_MEMBER_QUOTA: "0" });
    const empty = await image(owner);
    await expectError(
      await zero.post("/v2/shares", { images: [empty.id], members: ["z"] }),
      413,
      quotaText(empty.id, 1, 0),
    );
    const unlimited = as(owner, ["member", "reader"], { IMAGE_MEMBER_QUOTA: "-1" });
    const many = Array.from({ length: 100 }, (_, n) => `u${n}`);
    const big = await bulkOk(await unlimited.post("/v2/shares", { images: [empty.id], members: many }));
    expect(big).toHaveLength(100);
  });

  it("the answer is the first failing image in request order", async () => {
    const owner = project("owner");
    const pub = await image(owner);
    const res = await admin().patch(`/v2/images/${pub.id}`, [
      { op: "replace", path: "/visibility", value: "public" },
    ]);
    expect(res.status).toBe(200);
    const unknown = crypto.randomUUID();
    // 404 at index 2 before a 403 at index 3.
    await refusedAt(as(owner), owner, unknown, 404, `Image ${unknown} not found.`, {
      also: (images) => {
        images[3] = pub.id;
      },
    });
    // 403 at index 2 before a 404 at index 4.
    await refusedAt(as(owner), owner, pub.id, 403, notAllowedCreate(pub.id), {
      also: (images) => {
        images[4] = unknown;
      },
    });
    // 413 at index 2 (1 existing + 2 new > 2; the fresh images fit) before a 404 at index 3.
    const full = await image(owner);
    await addMember(owner, full.id, "f1");
    await refusedAt(
      as(owner, ["member", "reader"], { IMAGE_MEMBER_QUOTA: "2" }),
      owner,
      full.id,
      413,
      quotaText(full.id, 3, 2),
      {
        members: ["m1", "m2"],
        also: (images) => {
          images[3] = unknown;
        },
      },
    );
    // A later image over its quota does not hide an earlier 404.
    const full2 = await image(owner);
    await addMember(owner, full2.id, "f1");
    await refusedAt(
      as(owner, ["member", "reader"], { IMAGE_MEMBER_QUOTA: "2" }),
      owner,
      unknown,
      404,
      `Image ${unknown} not found.`,
      {
        members: ["m1", "m2"],
        also: (images) => {
          images[4] = full2.id;
        },
      },
    );
  });
});

describe("POST /v2/shares: bodies (docs/reference.md §12.3, §2)", () => {
  it("bad bodies: 400 with the exact text, nothing written", async () => {
    const owner = project("owner");
    const I = (await image(owner)).id;
    const ok = { images: [I], members: ["m"] };
    const ids = (n: number) => Array.from({ length: n }, () => crypto.randomUUID());
    const names = (n: number) => Array.from({ length: n }, (_, k) => `p${k}`);
    const cases: [unknown, string][] = [
      [[ok], BULK_FORM],
      ["shares", BULK_FORM],
      [null, BULK_FORM],
      [5, BULK_FORM],
      [true, BULK_FORM],
      [{ ...ok, extra: 1 }, "Unknown key: extra."],
      [{ ...ok, expires: future() }, "Unknown key: expires."],
      [{ members: ["m"] }, IMAGES_LIST],
      [{}, IMAGES_LIST],
      [{ images: [], members: ["m"] }, IMAGES_LIST],
      [{ images: I, members: ["m"] }, IMAGES_LIST],
      [{ images: null, members: ["m"] }, IMAGES_LIST],
      [{ images: ids(101), members: ["m"] }, IMAGES_LIST],
      [{ images: [I, 5], members: ["m"] }, IMAGES_LIST],
      [{ images: [null], members: ["m"] }, IMAGES_LIST],
      [{ images: [{ id: I }], members: ["m"] }, IMAGES_LIST],
      [{ images: [I] }, MEMBERS_LIST],
      [{ images: [I], members: [] }, MEMBERS_LIST],
      [{ images: [I], members: "m" }, MEMBERS_LIST],
      [{ images: [I], members: names(101) }, MEMBERS_LIST],
      [{ images: [I], members: ["ok", 5] }, "Invalid member id."],
      [{ images: [I], members: [["m"]] }, "Invalid member id."],
      [{ images: [I], members: ["m\u0001"] }, "Invalid member id."],
      [{ images: [I], members: ["x".repeat(256)] }, "Invalid member id."],
      [{ images: [I], members: [""] }, "Member can't be empty"],
      [{ images: [I], members: [null] }, "Member can't be empty"],
      [{ ...ok, expires_at: "2000-01-01T00:00:00Z" }, "Invalid expires_at: must be in the future."],
      [{ ...ok, expires_at: "tomorrow" }, "Invalid expires_at: must be in the form YYYY-MM-DDThh:mm:ssZ."],
      [{ ...ok, expires_at: 5 }, "Invalid expires_at: must be a string in the form YYYY-MM-DDThh:mm:ssZ."],
      [{ ...ok, expires_at: "2031-02-30T00:00:00Z" }, "Invalid expires_at: not a valid date."],
      [{ ...ok, expires_at: future(365 * 11) }, "Invalid expires_at: must be at most 10 years ahead."],
    ];
    const before = await dump();
    for (const [body, message] of cases) {
      await expectError(await as(owner).post("/v2/shares", body), 400, message);
    }
    // Body errors are decided before any image is looked at: an unknown image does not change them.
    await expectError(
      await as(owner).post("/v2/shares", { images: [crypto.randomUUID()], members: [""] }),
      400,
      "Member can't be empty",
    );
    expect(await dump()).toBe(before);
  });

  it("exactly 255 characters is a member id", async () => {
    const owner = project("owner");
    const I = await image(owner);
    const long = "é".repeat(255);
    const shares = await bulkOk(await as(owner).post("/v2/shares", { images: [I.id], members: [long] }));
    expect(shares).toStrictEqual([await bulkShare(I, long, "pending", true)]);
  });

  it("malformed JSON, empty body, too large a body", async () => {
    const owner = project("owner");
    const I = (await image(owner)).id;
    const before = await dump();
    const raw = (body: string, headers: Record<string, string> = {}) =>
      call("POST", "/v2/shares", { who: { project: owner }, raw: body, headers });
    await expectError(await raw("{"), 400, "Malformed JSON in request body.");
    await expectError(await raw('{"images": ["a"],}'), 400, "Malformed JSON in request body.");
    await expectError(await raw(""), 400, "Body expected in request.");
    await expectError(await raw("   \n"), 400, "Body expected in request.");
    const huge = JSON.stringify({ images: [I], members: ["x".repeat(70_000)] });
    await expectError(await raw(huge), 413, "Request body too large.");
    // One byte over 64 KiB, with valid JSON (whitespace padding): 413.
    const json = JSON.stringify({ images: [I], members: ["edge"] });
    await expectError(
      await raw(json + " ".repeat(64 * 1024 + 1 - json.length)),
      413,
      "Request body too large.",
    );
    expect(await dump()).toBe(before);
    // Exactly 64 KiB is accepted; JSON whatever the Content-Type.
    const exact = await raw(json + " ".repeat(64 * 1024 - json.length), { "Content-Type": "text/plain" });
    const shares = await bulkOk(exact);
    expect(shares.map((s) => [s.member_id, s.created])).toEqual([["edge", true]]);
  });

  it("errors are plain text when JSON is not asked for (docs/reference.md §2)", async () => {
    const owner = project("owner");
    const res = await call("POST", "/v2/shares", {
      who: { project: owner },
      body: { images: [] },
      headers: { Accept: "*/*" },
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("Content-Type")).toBe("text/plain; charset=UTF-8");
    expect(await res.text()).toBe(`400 Bad Request\n\n${IMAGES_LIST}\n`);
  });
});

describe("POST /v2/shares: notifications and records (docs/reference.md §9, §12.4)", () => {
  it("one image.member.create event per created membership, none for existing ones", async () => {
    const { queue, sent, calls } = recordingQueue();
    const owner = project("owner");
    const I = await image(owner);
    await addMember(owner, I.id, "exists");
    const vars = { NOTIFICATIONS: queue };
    const res = await postShares(
      { project: owner },
      { images: [I.id], members: ["exists", "n1", "n2", "n3"] },
      vars,
    );
    const shares = await bulkOk(res);
    expect(shares.map((s) => s.created)).toEqual([false, true, true, true]);
    expect(sent.map((e) => e.event_type)).toEqual([
      "image.member.create",
      "image.member.create",
      "image.member.create",
    ]);
    expect(sent.map((e) => e.payload.member_id).sort()).toEqual(["n1", "n2", "n3"]);
    for (const e of sent) {
      expect(e.publisher_id).toBe("image.glance.test");
      expect(e.payload).toMatchObject({
        image_id: I.id,
        status: "pending",
        deleted: false,
        deleted_at: null,
      });
      const s = shares.find((x) => x.member_id === e.payload.member_id);
      expect(e.payload.created_at).toBe(s?.created_at);
    }
    expect(new Set(sent.map((e) => e.message_id)).size).toBe(3);
    expect(calls.reduce((n, c) => n + c.messages.length, 0)).toBe(3);

    // All existing: nothing sent. A refused bulk: nothing sent.
    sent.length = 0;
    const again = await postShares({ project: owner }, { images: [I.id], members: ["n1", "exists"] }, vars);
    expect((await bulkOk(again)).map((s) => s.created)).toEqual([false, false]);
    const refused = await postShares(
      { project: owner },
      { images: [I.id, crypto.randomUUID()], members: ["n4"] },
      vars,
    );
    expect(refused.status).toBe(404);
    expect(sent).toEqual([]);
    // One created: one event.
    const one = await postShares({ project: owner }, { images: [I.id], members: ["n1", "n5"] }, vars);
    expect((await bulkOk(one)).map((s) => s.created)).toEqual([false, true]);
    expect(sent.map((e) => [e.event_type, e.payload.member_id])).toEqual([["image.member.create", "n5"]]);
  });

  it("each created membership has a create record with the actor and the request id", async () => {
    const owner = project("owner");
    const user = `alice-${rid()}`;
    const I1 = await image(owner);
    const I2 = await image(owner);
    await addMember(owner, I1.id, "old");
    const requestId = `req-${crypto.randomUUID()}`;
    const res = await call("POST", "/v2/shares", {
      who: { project: owner, user },
      body: { images: [I1.id, I2.id], members: ["old", "r1"] },
      headers: { "X-Openstack-Request-Id": requestId },
    });
    expect(res.headers.get("x-openstack-request-id")).toBe(requestId);
    const shares = await bulkOk(res);
    expect(shares.map((s) => [s.image_id, s.member_id, s.created])).toEqual([
      [I1.id, "old", false],
      [I1.id, "r1", true],
      [I2.id, "old", true],
      [I2.id, "r1", true],
    ]);
    type Event = Record<string, unknown> & { request_id: string | null };
    const recordsOf = async (img: string) =>
      (await okJson<{ events: Event[] }>(await as(owner).get(`/v2/member-events?image_id=${img}`))).events;
    const mine = [...(await recordsOf(I1.id)), ...(await recordsOf(I2.id))].filter(
      (e) => e.request_id === requestId,
    );
    const expected = (img: string, member: string) => ({
      id: expect.any(Number),
      at: expect.stringMatching(TS),
      action: "create",
      image_id: img,
      image_owner: owner,
      member_id: member,
      status: "pending",
      expires_at: null,
      actor: { project_id: owner, user_id: user },
      request_id: requestId,
    });
    expect(mine).toHaveLength(3);
    expect(mine).toEqual(
      expect.arrayContaining([expected(I1.id, "r1"), expected(I2.id, "old"), expected(I2.id, "r1")]),
    );
    // The existing membership keeps its one create record, from its own request.
    const old = (await recordsOf(I1.id)).filter((e) => e.member_id === "old");
    expect(old).toHaveLength(1);
    expect(old[0]?.request_id).not.toBe(requestId);
  });

  it("100 images × 2 members in one call; 101 images is 400", async () => {
    const owner = project("owner");
    const imgs: Img[] = [];
    for (let batch = 0; batch < 5; batch++) {
      imgs.push(...(await Promise.all(Array.from({ length: 20 }, () => image(owner)))));
    }
    const { queue, sent, calls } = recordingQueue();
    const res = await postShares(
      { project: owner },
      { images: imgs.map((i) => i.id), members: ["h1", "h2"] },
      { NOTIFICATIONS: queue },
    );
    const shares = await bulkOk(res);
    expect(shares).toHaveLength(200);
    expect(shares.map((s) => [s.image_id, s.member_id])).toEqual(
      imgs.flatMap((i) => [
        [i.id, "h1"],
        [i.id, "h2"],
      ]),
    );
    for (const s of shares) {
      expect(s).toMatchObject({
        image_owner: owner,
        status: "pending",
        created: true,
        image_visibility: "shared",
      });
    }
    expect(shares[0]).toStrictEqual(await bulkShare(imgs[0] as Img, "h1", "pending", true));
    expect(shares[199]).toStrictEqual(await bulkShare(imgs[99] as Img, "h2", "pending", true));
    const n = await env.DB.prepare(
      "SELECT COUNT(*) AS n FROM image_members WHERE image_id IN (SELECT id FROM images WHERE owner = ?)",
    )
      .bind(owner)
      .first<{ n: number }>();
    expect(n?.n).toBe(200);
    expect(sent).toHaveLength(200);
    expect(calls.every((c) => c.messages.length <= 100)).toBe(true);
    // The owner's listing has all of them.
    const pages = await walk(as(owner), "/v2/shares?limit=1000");
    expect(pages.flatMap((p) => p.shares)).toHaveLength(200);

    const extra = await image(owner);
    const before = await dump();
    await expectError(
      await as(owner).post("/v2/shares", { images: [...imgs.map((i) => i.id), extra.id], members: ["h3"] }),
      400,
      IMAGES_LIST,
    );
    expect(await dump()).toBe(before);
  });
});

describe("POST /v2/shares: races (docs/reference.md §12.3, §10.5)", () => {
  it("concurrent bulk shares and single adds never exceed the quota nor duplicate a row", async () => {
    const QUOTA = 5;
    const vars = { IMAGE_MEMBER_QUOTA: String(QUOTA) };
    for (let round = 0; round < 3; round++) {
      const owner = project("racer");
      const I1 = (await image(owner)).id;
      const I2 = (await image(owner)).id;
      const pool = Array.from({ length: 8 }, (_, n) => `m${n}`);
      const bulks: [string[], string[]][] = [
        [
          [I1, I2],
          ["m0", "m1", "m2"],
        ],
        [[I1], ["m2", "m3", "m4"]],
        [[I2], ["m3", "m4", "m5", "m6"]],
        [
          [I1, I2],
          ["m5", "m6"],
        ],
        [[I1], ["m0", "m7"]],
        [
          [I2, I1],
          ["m7", "m1"],
        ],
      ];
      const singles: [string, string][] = [I1, I2].flatMap((img) =>
        pool.map((m): [string, string] => [img, m]),
      );
      const requests = [
        ...bulks.map(([images, members]) => ({
          kind: "bulk" as const,
          send: () => postShares({ project: owner }, { images, members }, vars),
        })),
        ...singles.map(([img, m]) => ({
          kind: "single" as const,
          img,
          m,
          send: () =>
            call("POST", `/v2/images/${img}/members`, {
              who: { project: owner },
              body: { member_id: m },
              vars,
            }),
        })),
      ];
      // Interleave bulks among singles.
      requests.sort(() => Math.random() - 0.5);
      const responses = await Promise.all(requests.map((r) => r.send()));

      /** Which request claims to have created which pair, by request id. */
      const claimed = new Map<string, string>();
      const claim = (pair: string, requestId: string | null) => {
        expect(claimed.has(pair), `${pair} claimed twice`).toBe(false);
        claimed.set(pair, requestId ?? "");
      };
      for (const [n, res] of responses.entries()) {
        const r = requests[n];
        if (!r) throw new Error("unreachable");
        const text = await res.text();
        const requestId = res.headers.get("x-openstack-request-id");
        if (r.kind === "bulk") {
          expect([200, 413], text).toContain(res.status);
          if (res.status === 200) {
            const body = JSON.parse(text) as { shares: Share[] };
            for (const s of body.shares) if (s.created) claim(`${s.image_id}|${s.member_id}`, requestId);
          } else {
            expect(JSON.parse(text).message).toMatch(
              /^Image member limit exceeded for image [0-9a-f-]{36}: The limit has been exceeded on the number of allowed image members for this image\. Attempted: \d+, Maximum: 5$/,
            );
          }
        } else {
          expect([200, 409, 413], text).toContain(res.status);
          if (res.status === 200) claim(`${r.img}|${r.m}`, requestId);
          if (res.status === 409) {
            expect(JSON.parse(text).message).toBe(`Member ${r.m} is duplicated for image ${r.img}`);
          }
          if (res.status === 413) {
            expect(JSON.parse(text).message).toMatch(/Attempted: 6, Maximum: 5$/);
          }
        }
      }

      const rows = await env.DB.prepare(
        "SELECT image_id, member_id FROM image_members WHERE image_id IN (?, ?) ORDER BY image_id, member_id",
      )
        .bind(I1, I2)
        .all<{ image_id: string; member_id: string }>();
      const pairs = rows.results.map((r) => `${r.image_id}|${r.member_id}`);
      expect(new Set(pairs).size).toBe(pairs.length);
      // Every single add for every pool member was tried, so each image ends exactly at its quota.
      for (const img of [I1, I2]) {
        expect(pairs.filter((p) => p.startsWith(`${img}|`))).toHaveLength(QUOTA);
      }
      // The rows are exactly those some 200 said it created, each by exactly one request.
      expect([...claimed.keys()].sort()).toEqual([...pairs].sort());

      // Exactly one create record per membership, written by the request that created it.
      const records = await env.DB.prepare(
        "SELECT image_id, member_id, request_id FROM member_events WHERE action = 'create' AND image_id IN (?, ?)",
      )
        .bind(I1, I2)
        .all<{ image_id: string; member_id: string; request_id: string }>();
      const recorded = records.results.map((r) => `${r.image_id}|${r.member_id}`);
      expect([...recorded].sort()).toEqual([...pairs].sort());
      for (const r of records.results) {
        expect(r.request_id).toBe(claimed.get(`${r.image_id}|${r.member_id}`));
      }
      const others = await env.DB.prepare(
        "SELECT COUNT(*) AS n FROM member_events WHERE action <> 'create' AND image_id IN (?, ?)",
      )
        .bind(I1, I2)
        .first<{ n: number }>();
      expect(others?.n).toBe(0);
    }
  });

  it("two identical bulk shares at once: one creates, the other finds them existing", async () => {
    const owner = project("owner");
    const I = (await image(owner)).id;
    const body = { images: [I], members: ["t1", "t2", "t3"] };
    const [r1, r2] = await Promise.all([
      postShares({ project: owner }, body),
      postShares({ project: owner }, body),
    ]);
    const s1 = await bulkOk(r1 as Response);
    const s2 = await bulkOk(r2 as Response);
    const created = [...s1, ...s2].filter((s) => s.created).map((s) => s.member_id);
    expect(created.sort()).toEqual(["t1", "t2", "t3"]);
    const records = await env.DB.prepare(
      "SELECT COUNT(*) AS n FROM member_events WHERE action = 'create' AND image_id = ?",
    )
      .bind(I)
      .first<{ n: number }>();
    expect(records?.n).toBe(3);
  });
});
