import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { LIVE } from "../../src/members/live";
import {
  addMember,
  admin,
  as,
  call,
  createImage,
  dump,
  expectError,
  LEGACY,
  MEMBER_KEYS,
  project,
} from "../helpers";

/**
 * docs/reference.md §12.1, expiring memberships: POST takes `expires_at`, PATCH …/members/{member_id} sets or
 * clears it (rule set_member_expiry), and from that second on the membership is gone for every
 * purpose, decided by the database at request time.
 */
declare global {
  interface ImportMeta {
    glob(pattern: string, options: { query: "?raw"; import: "default"; eager: true }): Record<string, string>;
  }
}

const stamp = (ms: number) => `${new Date(ms).toISOString().slice(0, 19)}Z`;
const inDays = (days: number) => stamp(Date.now() + days * 86_400_000);
/** Now plus ten calendar years (as the reference's "at most 10 years ahead" counts them), plus `delta` ms. */
function tenYears(delta: number) {
  const d = new Date();
  d.setUTCFullYear(d.getUTCFullYear() + 10);
  return stamp(d.getTime() + delta);
}
const Y = new Date().getUTCFullYear() + 2;
const TS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const LONG_AGO = "2000-01-01T00:00:00Z";
const EXPIRY_KEYS = ["member_id", "image_id", "status", "created_at", "updated_at", "expires_at", "schema"];
const READER = ["reader"];
const notAuthorized = (rule: string) => `You are not authorized to complete ${rule} action.`;
const notMember = (member: string, id: string) =>
  `${member} not found in the member list of the image ${id}.`;
const noImage = (id: string) => `No image found with ID ${id}`;
const PATCH_FORM =
  'Expected a change in the form: {"expires_at": "YYYY-MM-DDThh:mm:ssZ"} or {"expires_at": null}';
const onlyExpiry = (key: string) => `Attribute '${key}' cannot be changed: only expires_at can.`;
const WHY = {
  string: "Invalid expires_at: must be a string in the form YYYY-MM-DDThh:mm:ssZ.",
  form: "Invalid expires_at: must be in the form YYYY-MM-DDThh:mm:ssZ.",
  date: "Invalid expires_at: not a valid date.",
  future: "Invalid expires_at: must be in the future.",
  tenYears: "Invalid expires_at: must be at most 10 years ahead.",
};

type Member = Record<string, string>;
type Row = { status: string; created_at: string; updated_at: string; expires_at: string | null };

const path = (id: string, member?: string) =>
  member === undefined ? `/v2/images/${id}/members` : `/v2/images/${id}/members/${member}`;
const sql = (text: string, ...binds: unknown[]) => env.DB.prepare(text).bind(...binds);

async function shared(visibility = "shared") {
  const owner = project("owner");
  const member = project("member");
  const id = await createImage(owner, { visibility });
  await addMember(owner, id, member);
  return { owner, member, id };
}

async function accept(id: string, member: string) {
  expect((await as(member).put(path(id, member), { status: "accepted" })).status).toBe(200);
}

async function rows(id: string, member: string): Promise<Row[]> {
  const q =
    "SELECT status, created_at, updated_at, expires_at FROM image_members WHERE image_id = ?1 AND member_id = ?2";
  return (await sql(q, id, member).all<Row>()).results;
}
const expiries = async (id: string, member: string) => (await rows(id, member)).map((r) => r.expires_at);

/** Lets the membership's second pass without waiting: the row stays, expired. */
async function expire(id: string, member: string) {
  const q = "UPDATE image_members SET expires_at = ?3 WHERE image_id = ?1 AND member_id = ?2";
  await sql(q, id, member, LONG_AGO).run();
  expect(await expiries(id, member)).toEqual([LONG_AGO]);
}

/** Runs `f` and checks that no image, membership or audit record changed. */
async function unchanged(f: () => Promise<void>) {
  const before = await dump();
  await f();
  expect(await dump()).toBe(before);
}

const imageIds = async (res: Response) => {
  expect(res.status).toBe(200);
  return ((await res.json()) as { images: { id: string }[] }).images.map((i) => i.id);
};
const memberIds = async (res: Response) => {
  expect(res.status).toBe(200);
  return ((await res.json()) as { members: Member[] }).members.map((m) => m.member_id);
};

describe("POST with expires_at (docs/reference.md §12.1)", () => {
  it("200: the member object carries expires_at after updated_at; stored, shown, listed, recorded", async () => {
    const owner = project("owner");
    const member = project("member");
    const id = await createImage(owner);
    const at = inDays(30);
    const res = await as(owner).post(path(id), { member_id: member, expires_at: at });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Member;
    expect(Object.keys(body)).toEqual(EXPIRY_KEYS);
    const created = body.created_at as string;
    expect(created).toMatch(TS);
    expect(body).toStrictEqual({
      member_id: member,
      image_id: id,
      status: "pending",
      created_at: created,
      updated_at: created,
      expires_at: at,
      schema: "/v2/schemas/member",
    });
    expect(await rows(id, member)).toEqual([
      { status: "pending", created_at: created, updated_at: created, expires_at: at },
    ]);
    for (const who of [owner, member]) {
      const shown = await as(who).get(path(id, member));
      expect(shown.status).toBe(200);
      expect(await shown.json()).toStrictEqual(body);
      const list = await as(who).get(path(id));
      expect(list.status).toBe(200);
      expect(await list.json()).toStrictEqual({ members: [body], schema: "/v2/schemas/members" });
    }
    const q =
      "SELECT action, expires_at, actor_project FROM member_events WHERE image_id = ?1 AND member_id = ?2";
    expect((await sql(q, id, member).all()).results).toEqual([
      { action: "create", expires_at: at, actor_project: owner },
    ]);
  });

  it("without expires_at, or with null, the key is absent; 10 years minus a minute is accepted", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    const late = tenYears(-60_000);
    for (const [extra, at] of [
      [{}, null],
      [{ expires_at: null }, null],
      [{ expires_at: late }, late],
    ] as const) {
      // The deprecated `member` key takes expires_at as member_id does.
      for (const key of ["member_id", "member"]) {
        const member = project("member");
        const res = await as(owner).post(path(id), { [key]: member, ...extra });
        expect(res.status).toBe(200);
        const body = (await res.json()) as Member;
        expect(Object.keys(body)).toEqual(at === null ? MEMBER_KEYS : EXPIRY_KEYS);
        expect(body).toMatchObject({
          member_id: member,
          image_id: id,
          status: "pending",
          ...(at && { expires_at: at }),
        });
        expect(await expiries(id, member)).toEqual([at]);
      }
    }
  });

  const bad: [string, () => unknown, string][] = [
    ["a number", () => 1893456000, WHY.string],
    ["an object", () => ({ at: `${Y}-01-01T00:00:00Z` }), WHY.string],
    ["true", () => true, WHY.string],
    ["an array", () => [`${Y}-01-01T00:00:00Z`], WHY.string],
    ["a date alone", () => `${Y}-01-01`, WHY.form],
    ["milliseconds", () => `${Y}-01-01T00:00:00.000Z`, WHY.form],
    ["an offset", () => `${Y}-01-01T00:00:00+00:00`, WHY.form],
    ["a lower-case z", () => `${Y}-01-01T00:00:00z`, WHY.form],
    ["a space for T", () => `${Y}-01-01 00:00:00Z`, WHY.form],
    ["surrounding blanks", () => ` ${Y}-01-01T00:00:00Z`, WHY.form],
    ["an empty string", () => "", WHY.form],
    ["February 30", () => `${Y}-02-30T00:00:00Z`, WHY.date],
    ["month 13", () => `${Y}-13-01T00:00:00Z`, WHY.date],
    ["hour 24", () => `${Y}-01-01T24:00:00Z`, WHY.date],
    ["second 60", () => `${Y}-06-30T23:59:60Z`, WHY.date],
    ["the past", () => LONG_AGO, WHY.future],
    ["a second ago", () => stamp(Date.now() - 1000), WHY.future],
    ["this very second", () => stamp(Date.now()), WHY.future],
    ["10 years and a minute ahead", () => tenYears(60_000), WHY.tenYears],
    ["far ahead", () => "9999-12-31T23:59:59Z", WHY.tenYears],
  ];
  for (const [name, value, message] of bad) {
    it(`${name}: 400 ${message} and nothing written`, async () => {
      const owner = project("owner");
      const id = await createImage(owner);
      await unchanged(async () => {
        const res = await as(owner).post(path(id), { member_id: project(), expires_at: value() });
        await expectError(res, 400, message);
      });
    });
  }

  it("checked with the body (step 2): before the image lookups, after the member id", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    const pub = await createImage(owner, { visibility: "public", owner }, ["admin"]);
    await unchanged(async () => {
      // A bad expires_at wins over an unknown, invisible or public image and over a refusing rule.
      for (const [who, image] of [
        [as(owner), crypto.randomUUID()],
        [as(project()), id],
        [as(owner), pub],
        [as(owner, READER), id],
      ] as const) {
        const res = await who.post(path(image), { member_id: project(), expires_at: LONG_AGO });
        await expectError(res, 400, WHY.future);
      }
      // A bad member id wins over a bad expires_at.
      for (const [body, message] of [
        [{ member_id: 5, expires_at: "soon" }, "Invalid member id."],
        [{ member_id: "", expires_at: 5 }, "Member can't be empty"],
        [{ member_id: null, expires_at: LONG_AGO }, "Member can't be empty"],
        [{ expires_at: LONG_AGO }, "Member to be added not specified"],
      ] as const) {
        await expectError(await as(owner).post(path(id), body), 400, message);
      }
    });
  });
});

describe("PATCH /v2/images/{image_id}/members/{member_id} (docs/reference.md §12.1)", () => {
  it("sets, changes and clears expires_at; status and created_at stay, updated_at moves", async () => {
    const { owner, member, id } = await shared();
    await accept(id, member);
    const [first] = await rows(id, member);
    for (const [who, at] of [
      [as(owner), inDays(7)],
      [admin(), inDays(1)],
      [as(owner), null],
    ] as const) {
      await sql(
        "UPDATE image_members SET updated_at = ?3 WHERE image_id = ?1 AND member_id = ?2",
        id,
        member,
        LONG_AGO,
      ).run();
      const res = await who.patchJson(path(id, member), { expires_at: at });
      expect(res.status, await res.clone().text()).toBe(200);
      const body = (await res.json()) as Member;
      expect(Object.keys(body)).toEqual(at === null ? MEMBER_KEYS : EXPIRY_KEYS);
      expect(body).toStrictEqual({
        member_id: member,
        image_id: id,
        status: "accepted",
        created_at: first?.created_at,
        updated_at: expect.stringMatching(TS),
        ...(at === null ? {} : { expires_at: at }),
        schema: "/v2/schemas/member",
      });
      // updated_at moved from the old value to now, in the response and in D1.
      expect(Date.now() - Date.parse(body.updated_at as string)).toBeLessThan(60_000);
      expect(await rows(id, member)).toEqual([
        { status: "accepted", created_at: first?.created_at, updated_at: body.updated_at, expires_at: at },
      ]);
      expect(await (await as(member).get(path(id, member))).json()).toStrictEqual(body);
    }
  });

  it("404 when the image is not visible or unknown, whatever the body", async () => {
    const { member, id } = await shared();
    await unchanged(async () => {
      for (const [image, body] of [
        [id, { expires_at: inDays(1) }],
        [id, { expires_at: "bad", status: "x" }],
        [crypto.randomUUID(), { expires_at: inDays(1) }],
        ["not-a-uuid", { expires_at: inDays(1) }],
      ] as const) {
        const res = await as(project()).patchJson(path(image, member), body);
        await expectError(res, 404, `Image ${image} not found.`);
      }
    });
  });

  it("403 on a public or community image, for the owner and an admin, whatever the body", async () => {
    for (const visibility of ["public", "community"]) {
      const owner = project("owner");
      const id = await createImage(owner, { visibility, owner }, ["admin"]);
      await unchanged(async () => {
        for (const who of [as(owner), admin()]) {
          for (const body of [{ expires_at: inDays(1) }, [], { status: "x" }]) {
            const res = await who.patchJson(path(id, "x"), body);
            await expectError(res, 403, `Not allowed to update members for image ${id}.`);
          }
        }
      });
    }
  });

  it("secure-rbac: set_member_expiry (as add_member) refuses the owner's reader and the image's members", async () => {
    const { owner, member, id } = await shared("private");
    await unchanged(async () => {
      for (const who of [as(owner, READER), as(member), as(member, READER)]) {
        for (const target of [member, "ghost"]) {
          for (const body of [{ expires_at: inDays(1) }, { other: 1 }]) {
            const res = await who.patchJson(path(id, target), body);
            await expectError(res, 403, notAuthorized("set_member_expiry"));
          }
        }
      }
      // A member without roles fails get_image first: the bare 404 of every member route (docs/reference.md §11).
      const res = await as(member, []).patchJson(path(id, member), { expires_at: inDays(1) });
      await expectError(res, 404, "The resource could not be found.");
    });
  });

  it("404 for a member that is not in the list, before the body is judged", async () => {
    const { owner, id } = await shared();
    await unchanged(async () => {
      for (const body of [{ expires_at: inDays(1) }, { expires_at: LONG_AGO }, "x", { status: "accepted" }]) {
        for (const who of [as(owner), admin()]) {
          await expectError(await who.patchJson(path(id, "ghost"), body), 404, notMember("ghost", id));
        }
      }
    });
  });

  const bodies: [string, unknown, string][] = [
    ["another key", { status: "accepted" }, onlyExpiry("status")],
    ["another key beside expires_at", { expires_at: null, member_id: "x" }, onlyExpiry("member_id")],
    ["no key", {}, PATCH_FORM],
    ["an array", [{ expires_at: null }], PATCH_FORM],
    ["a string", `${Y}-01-01T00:00:00Z`, PATCH_FORM],
    ["a number", 1, PATCH_FORM],
    ["null", null, PATCH_FORM],
    ["a number for expires_at", { expires_at: 1 }, WHY.string],
    ["milliseconds", { expires_at: `${Y}-01-01T00:00:00.000Z` }, WHY.form],
    ["an impossible date", { expires_at: `${Y}-02-30T00:00:00Z` }, WHY.date],
    ["the past", { expires_at: LONG_AGO }, WHY.future],
    ["over 10 years", { expires_at: tenYears(60_000) }, WHY.tenYears],
  ];
  for (const [name, body, message] of bodies) {
    it(`400 body (last): ${name}`, async () => {
      const { owner, member, id } = await shared();
      await unchanged(async () => {
        await expectError(await as(owner).patchJson(path(id, member), body), 400, message);
      });
    });
  }

  it("a body that is empty or not JSON: 400 as on every member route (docs/reference.md §2)", async () => {
    const { owner, member, id } = await shared();
    await unchanged(async () => {
      for (const [raw, message] of [
        ["", "Body expected in request."],
        ["{expires_at:", "Malformed JSON in request body."],
      ] as const) {
        const res = await call("PATCH", path(id, member), { who: { project: owner }, raw });
        await expectError(res, 400, message);
      }
    });
  });

  it("legacy: the owner and an admin may, whatever their roles; a member may not (403)", async () => {
    const { owner, member, id } = await shared();
    await unchanged(async () => {
      for (const who of [as(member, undefined, LEGACY), as(member, READER, LEGACY)]) {
        const res = await who.patchJson(path(id, member), { expires_at: inDays(1) });
        await expectError(res, 403, `Not allowed to update members for image ${id}.`);
      }
    });
    for (const [who, at] of [
      [as(owner, READER, LEGACY), inDays(2)],
      [as(`admin-${project()}`, ["admin"], LEGACY), inDays(3)],
    ] as const) {
      const res = await who.patchJson(path(id, member), { expires_at: at });
      expect(res.status).toBe(200);
      expect(((await res.json()) as Member).expires_at).toBe(at);
      expect(await expiries(id, member)).toEqual([at]);
    }
    const res = await as(owner, undefined, LEGACY).patchJson(path(id, "ghost"), { expires_at: null });
    await expectError(res, 404, notMember("ghost", id));
  });

  it("POLICY_OVERRIDES: `!` refuses the owner and an admin; a rule may let members set their own row", async () => {
    const { owner, member, id } = await shared("private");
    const other = project("other");
    await addMember(owner, id, other);
    const closed = { POLICY_OVERRIDES: JSON.stringify({ set_member_expiry: "!" }) };
    const mine = {
      POLICY_OVERRIDES: JSON.stringify({ set_member_expiry: "role:member and project_id:%(member_id)s" }),
    };
    await unchanged(async () => {
      for (const who of [as(owner, undefined, closed), as(`admin-${project()}`, ["admin"], closed)]) {
        const res = await who.patchJson(path(id, member), { expires_at: inDays(1) });
        await expectError(res, 403, notAuthorized("set_member_expiry"));
      }
      // The owner fails that rule; a member passes it but sees no row but its own.
      const byOwner = await as(owner, undefined, mine).patchJson(path(id, member), { expires_at: null });
      await expectError(byOwner, 403, notAuthorized("set_member_expiry"));
      const ofOther = await as(member, undefined, mine).patchJson(path(id, other), { expires_at: inDays(1) });
      await expectError(ofOther, 404, notMember(other, id));
    });
    const at = inDays(5);
    const res = await as(member, undefined, mine).patchJson(path(id, member), { expires_at: at });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Member).expires_at).toBe(at);
    expect([await expiries(id, member), await expiries(id, other)]).toEqual([[at], [null]]);
  });
});

describe("an expired membership is gone for every purpose (docs/reference.md §12.1)", () => {
  it("for the member: the image and its member routes answer 404, its image list lacks it", async () => {
    const { member, id } = await shared();
    await accept(id, member);
    expect(await imageIds(await as(member).get("/v2/images"))).toContain(id);
    await expire(id, member);
    await unchanged(async () => {
      const m = as(member);
      await expectError(await m.get(`/v2/images/${id}`), 404, noImage(id));
      const gone = `Image ${id} not found.`;
      await expectError(await m.get(path(id)), 404, gone);
      await expectError(await m.get(path(id, member)), 404, gone);
      await expectError(await m.put(path(id, member), { status: "accepted" }), 404, gone);
      await expectError(await m.patchJson(path(id, member), { expires_at: inDays(1) }), 404, gone);
      await expectError(await m.post(path(id), { member_id: member }), 404, gone);
      for (const query of ["", "?member_status=all", "?member_status=accepted&visibility=all"]) {
        expect(await imageIds(await m.get(`/v2/images${query}`))).not.toContain(id);
      }
    });
  });

  it("for the owner and admins: absent from list and show; DELETE and PATCH find no member", async () => {
    const { owner, member, id } = await shared();
    const stays = project("stays");
    await addMember(owner, id, stays);
    await expire(id, member);
    await unchanged(async () => {
      for (const who of [as(owner), admin()]) {
        expect(await memberIds(await who.get(path(id)))).toEqual([stays]);
        await expectError(await who.get(path(id, member)), 404, notMember(member, id));
        await expectError(await who.delete(path(id, member)), 404, notMember(member, id));
        // Not revived by a new expiry or by clearing it.
        for (const at of [null, inDays(1)]) {
          await expectError(
            await who.patchJson(path(id, member), { expires_at: at }),
            404,
            notMember(member, id),
          );
        }
      }
    });
  });

  it("no longer counts against IMAGE_MEMBER_QUOTA", async () => {
    const owner = as(project("owner"), undefined, { IMAGE_MEMBER_QUOTA: "1" });
    const id = await createImage(owner.who.project as string);
    const [first, second, third] = [project("m"), project("m"), project("m")];
    expect((await owner.post(path(id), { member_id: first })).status).toBe(200);
    const full = `Image member limit exceeded for image ${id}: The limit has been exceeded on the number of allowed image members for this image. Attempted: 2, Maximum: 1`;
    await expectError(await owner.post(path(id), { member_id: second }), 413, full);
    await expire(id, first);
    const res = await owner.post(path(id), { member_id: second });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Member).member_id).toBe(second);
    await expectError(await owner.post(path(id), { member_id: third }), 413, full);
  });

  it("adding the member again starts a fresh membership and replaces the expired row", async () => {
    const { owner, member, id } = await shared();
    await accept(id, member);
    const old = "2001-01-01T00:00:00Z";
    await sql(
      "UPDATE image_members SET created_at = ?3, updated_at = ?3 WHERE image_id = ?1 AND member_id = ?2",
      id,
      member,
      old,
    ).run();
    await expire(id, member);
    // A caller whose add is refused does not remove the expired row either.
    await unchanged(async () => {
      const res = await as(owner, READER).post(path(id), { member_id: member });
      await expectError(res, 403, notAuthorized("add_member"));
    });
    const at = inDays(3);
    const res = await as(owner).post(path(id), { member_id: member, expires_at: at });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Member;
    const created = body.created_at as string;
    expect(body).toStrictEqual({
      member_id: member,
      image_id: id,
      status: "pending",
      created_at: created,
      updated_at: created,
      expires_at: at,
      schema: "/v2/schemas/member",
    });
    expect(Date.now() - Date.parse(created)).toBeLessThan(60_000);
    expect(await rows(id, member)).toEqual([
      { status: "pending", created_at: created, updated_at: created, expires_at: at },
    ]);
    const q = `SELECT action, status, expires_at, actor_project FROM member_events
      WHERE image_id = ?1 AND member_id = ?2 ORDER BY id DESC LIMIT 2`;
    expect((await sql(q, id, member).all()).results).toEqual([
      { action: "create", status: "pending", expires_at: at, actor_project: owner },
      { action: "expire", status: "accepted", expires_at: LONG_AGO, actor_project: null },
    ]);
    // A live membership is still a duplicate.
    const again = await as(owner).post(path(id), { member_id: member });
    await expectError(again, 409, `Member ${member} is duplicated for image ${id}`);
  });

  it("policy checks on %(member_id)s fail for an expired member, in the read and in the list's SQL", async () => {
    const owner = project("owner");
    const member = project("member");
    // A public image with a membership row: only the override, not visibility, separates the callers.
    const id = await createImage(owner, { visibility: "public", owner }, ["admin"]);
    const q = `INSERT INTO image_members (image_id, member_id, status, created_at, updated_at)
      VALUES (?1, ?2, 'accepted', ?3, ?3)`;
    await sql(q, id, member, stamp(Date.now())).run();
    const vars = {
      POLICY_OVERRIDES: JSON.stringify({ get_image: "project_id:%(member_id)s or project_id:%(owner)s" }),
    };
    // get_image failing on an image the database shows: Glance's bare 404 (docs/reference.md §11).
    const hidden = "The resource could not be found.";
    const stranger = as(project(), undefined, vars);
    await expectError(await stranger.get(`/v2/images/${id}`), 404, hidden);
    expect(await imageIds(await stranger.get("/v2/images"))).not.toContain(id);
    const m = as(member, undefined, vars);
    expect((await m.get(`/v2/images/${id}`)).status).toBe(200);
    expect(await imageIds(await m.get("/v2/images"))).toContain(id);
    await expire(id, member);
    await expectError(await m.get(`/v2/images/${id}`), 404, hidden);
    expect(await imageIds(await m.get("/v2/images"))).not.toContain(id);
    expect(await imageIds(await as(owner, undefined, vars).get("/v2/images"))).toContain(id);
  });

  it("the share vanishes at its second, by the database's clock, without any job", async () => {
    const { owner, member, id } = await shared();
    const end = Math.ceil(Date.now() / 1000) * 1000 + 2000;
    const res = await as(owner).patchJson(path(id, member), { expires_at: stamp(end) });
    expect(res.status).toBe(200);
    expect(Date.now()).toBeLessThan(end);
    expect((await as(member).get(`/v2/images/${id}`)).status).toBe(200);
    expect(await memberIds(await as(owner).get(path(id)))).toEqual([member]);
    while (Date.now() < end) await new Promise((r) => setTimeout(r, Math.max(10, end - Date.now())));
    await expectError(await as(member).get(`/v2/images/${id}`), 404, noImage(id));
    expect(await memberIds(await as(owner).get(path(id)))).toEqual([]);
    await expectError(
      await as(member).put(path(id, member), { status: "accepted" }),
      404,
      `Image ${id} not found.`,
    );
    // The row is still in D1, only expired.
    expect(await expiries(id, member)).toEqual([stamp(end)]);
  }, 10_000);
});

// ---------------------------------------------------------------- no statement can forget the condition

type Token = { kind: "code" | "text" | "comment"; text: string };

/** TypeScript source as code, string/template texts (interpolations kept verbatim) and comments. */
function lex(src: string): Token[] {
  const out: Token[] = [];
  let code = "";
  let tail = ""; // the last significant code, to tell a regular expression from a division
  const flush = () => {
    if (code) out.push({ kind: "code", text: code });
    code = "";
  };
  const quoted = (at: number) => {
    let j = at + 1;
    while (j < src.length && src[j] !== src[at]) j += src[j] === "\\" ? 2 : 1;
    return j + 1;
  };
  const template = (at: number): number => {
    let j = at + 1;
    while (j < src.length && src[j] !== "`") {
      if (src[j] === "\\") j += 2;
      else if (src[j] === "$" && src[j + 1] === "{") j = braces(j + 1);
      else j++;
    }
    return j + 1;
  };
  const braces = (at: number): number => {
    let depth = 0;
    let j = at;
    while (j < src.length) {
      const ch = src[j];
      if (ch === "'" || ch === '"') j = quoted(j);
      else if (ch === "`") j = template(j);
      else {
        if (ch === "{") depth++;
        if (ch === "}" && --depth === 0) return j + 1;
        j++;
      }
    }
    return j;
  };
  let i = 0;
  while (i < src.length) {
    const ch = src[i] as string;
    const next = src[i + 1];
    let end = i + 1;
    if (ch === "/" && (next === "/" || next === "*")) {
      flush();
      end = next === "/" ? src.indexOf("\n", i) : src.indexOf("*/", i) + 2;
      if (end <= i) end = src.length;
      out.push({ kind: "comment", text: src.slice(i, end) });
    } else if (ch === "'" || ch === '"' || ch === "`") {
      flush();
      end = ch === "`" ? template(i) : quoted(i);
      out.push({ kind: "text", text: src.slice(i + 1, end - 1) });
      tail = "x";
    } else if (ch === "/" && /(^|[(,=:[!&|?{};]|\breturn)$/.test(tail)) {
      let inClass = false;
      end = i + 1;
      while (end < src.length && (src[end] !== "/" || inClass)) {
        if (src[end] === "\\") end++;
        else if (src[end] === "[") inClass = true;
        else if (src[end] === "]") inClass = false;
        end++;
      }
      end++;
      while (/[a-z]/.test(src[end] ?? "")) end++;
      code += " /regex/ ";
      tail = "x";
    } else {
      code += ch;
      if (!/\s/.test(ch)) tail = (tail + ch).slice(-8);
    }
    i = end;
  }
  flush();
  return out;
}

const WRITE_BEFORE = /\b(INSERT\s+(?:OR\s+IGNORE\s+)?INTO|UPDATE|DELETE\s+FROM)\s+$/i;
const MARKED = /\$\{(LIVE|EXPIRED)\}/;
const IMPORTS_MARKS =
  /import\s*\{[^}]*\b(LIVE|EXPIRED)\b[^}]*\}\s*from\s*"(\.\/|\.\.\/members\/|\.\.\/\.\.\/members\/)live"/;

/**
 * Every mention of `image_members` outside comments must be the table of an INSERT, UPDATE or
 * DELETE, and every UPDATE or DELETE must carry LIVE or EXPIRED (src/members/live.ts), looked up
 * through the same file's `const x = "…"` texts; reads go through `live_members`. The purge
 * (src/scheduled.ts) alone deletes by its own clock.
 */
function violations(files: Record<string, string>): string[] {
  const found: string[] = [];
  for (const [path, src] of Object.entries(files)) {
    const tokens = lex(src);
    const consts = new Map<string, string>();
    tokens.forEach((t, n) => {
      const m = /\bconst\s+(\w+)\s*=\s*$/.exec(tokens[n - 1]?.text ?? "");
      if (t.kind === "text" && tokens[n - 1]?.kind === "code" && m?.[1]) consts.set(m[1], t.text);
    });
    const expand = (s: string, depth = 0): string =>
      depth > 8
        ? s
        : s.replace(/\$\{(\w+)\}/g, (all, name: string) =>
            consts.has(name) && !MARKED.test(all) ? expand(consts.get(name) as string, depth + 1) : all,
          );
    const purge = path.endsWith("/src/scheduled.ts");
    for (const t of tokens) {
      if (t.kind === "comment") continue;
      for (const m of t.text.matchAll(/\bimage_members\b/g)) {
        const before = t.text.slice(0, m.index);
        const where = `${path}: …${before.slice(-50)}image_members`;
        const write = t.kind === "text" ? WRITE_BEFORE.exec(before) : null;
        if (
          purge &&
          t.kind === "text" &&
          (write?.[1]?.startsWith("DELETE") || /\bSELECT rowid FROM\s+$/.test(before))
        )
          continue;
        if (!write) found.push(`reads image_members, not live_members: ${where}`);
        else if (!/^INSERT/i.test(write[1] as string) && !MARKED.test(expand(t.text.slice(m.index))))
          found.push(`${write[1]} without LIVE or EXPIRED: ${where}`);
      }
    }
    if (MARKED.test(src) && !IMPORTS_MARKS.test(src))
      found.push(`${path}: LIVE/EXPIRED not from src/members/live.ts`);
  }
  return found;
}

describe("no statement of src/ reads image_members past the expiry (docs/reference.md §12.1)", () => {
  const sources = import.meta.glob("../../src/**/*.ts", { query: "?raw", import: "default", eager: true });

  it("the check finds what it must", () => {
    const file = (body: string) => ({
      "/src/members/x.ts": `import { EXPIRED, LIVE } from "./live";\n${body}`,
    });
    // biome-ignore-start lint/suspicious/noTemplateCurlyInString: TypeScript source as text
    const [bad, good, unmarked] = [
      [
        "const q = `SELECT * FROM image_members m WHERE m.image_id = ?1`;",
        'db.prepare("SELECT 1 FROM image_members WHERE member_id = ?1");',
        "const q = `SELECT 'http://x' FROM live_members l JOIN image_members m ON 1`;",
        "const q = /\\/\\//.test(x) ? `FROM image_members` : ``;",
        "const q = `UPDATE image_members SET status = ?1 WHERE image_id = ?2`;",
        "const w = `image_id = ?1`; const q = `DELETE FROM image_members WHERE ${w}`;",
        "const q = `DELETE FROM image_members WHERE rowid IN (SELECT rowid FROM image_members WHERE ${LIVE})`;",
        "const t = image_members;",
      ],
      [
        "// SELECT * FROM image_members\n/* JOIN image_members */ const a = 1;",
        "const q = `INSERT INTO image_members (a) SELECT 1 FROM live_members`;",
        "const w = `image_id = ?1 AND ${LIVE}`; const q = `UPDATE image_members SET x = 1 WHERE ${w}`;",
        "const q = `DELETE FROM image_members WHERE ${EXPIRED}`; const i = 'image_members_by_member';",
      ],
      "const q = `UPDATE image_members SET a = 1 WHERE ${LIVE}`;",
    ] as const;
    // biome-ignore-end lint/suspicious/noTemplateCurlyInString: TypeScript source as text
    for (const body of bad) expect(violations(file(body)), body).toHaveLength(1);
    for (const body of good) expect(violations(file(body)), body).toEqual([]);
    expect(violations({ "/src/members/x.ts": unmarked })).toEqual([
      "/src/members/x.ts: LIVE/EXPIRED not from src/members/live.ts",
    ]);
  });

  it("holds for every .ts file of src/", () => {
    const paths = Object.keys(sources);
    expect(paths.length).toBeGreaterThan(30);
    for (const p of ["members/store.ts", "shares/store.ts", "scheduled.ts", "images/store.ts"]) {
      expect(paths.some((x) => x.endsWith(`/src/${p}`))).toBe(true);
    }
    expect(violations(sources)).toEqual([]);
    // ...and it looked at the writes there are (a lexer that lost them would pass vacuously).
    const writes = Object.values(sources)
      .flatMap((s) => lex(s))
      .filter((t) => t.kind === "text")
      .flatMap((t) => [
        ...t.text.matchAll(/\b(INSERT (?:OR IGNORE )?INTO|UPDATE|DELETE FROM)\s+image_members\b/g),
      ]);
    expect(writes.length).toBeGreaterThanOrEqual(7);
  });

  it("the view live_members is exactly LIVE's condition", async () => {
    const q = "SELECT sql FROM sqlite_master WHERE type = 'view' AND name = 'live_members'";
    const view = (await env.DB.prepare(q).first<{ sql: string }>())?.sql.replace(/\s+/g, " ").trim() ?? "";
    const where = `FROM image_members WHERE ${LIVE.slice(1, -1)}`;
    expect(view.slice(-where.length)).toBe(where);
  });
});

describe("GET /v2/schemas/member declares expires_at (docs/reference.md §6, §12.1)", () => {
  it("equals spec/schemas/member.json", async () => {
    const res = await as(project()).get("/v2/schemas/member");
    expect(res.status).toBe(200);
    // biome-ignore format: spec/schemas/member.json, one property a line
    expect(await res.json()).toStrictEqual({ name: "member", properties: {
      member_id: { type: "string", description: "An identifier for the image member (tenantId)" },
      image_id: { type: "string", description: "An identifier for the image", pattern: "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$" },
      created_at: { type: "string", description: "Date and time of image member creation" },
      updated_at: { type: "string", description: "Date and time of last modification of image member" },
      status: { type: "string", description: "The status of this image member", enum: ["pending", "accepted", "rejected"] },
      expires_at: { type: ["null", "string"], description: "Date and time at which the membership ends by itself (glance-edge extension); absent or null: never", format: "date-time" },
      schema: { readOnly: true, type: "string" },
    } });
  });
});
