import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  addMember,
  admin,
  as,
  bodyText,
  type CallOptions,
  call,
  createImage,
  expectError,
  JSON_PATCH,
  project,
} from "../helpers";

/**
 * docs/reference.md §11 on the image routes: every route, under the default `secure-rbac` rules and under
 * `legacy`, for the callers that tell the rules apart: the owner's project with reader only,
 * with member and reader, with no role; a project holding a membership of the image with
 * reader or with member; a stranger; an admin. Status and body, and a refusal changes nothing.
 * The expected answers are those of Glance 25 (test/replay: RBAC on and off).
 */
type Mode = "secure-rbac" | "legacy";
const MODES: Mode[] = ["secure-rbac", "legacy"];

const CALLERS = [
  "ownerReader",
  "ownerMember",
  "ownerNone",
  "memberReader",
  "memberMember",
  "stranger",
  "admin",
] as const;
type Caller = (typeof CALLERS)[number];

interface World {
  id: string;
  owner: string;
  member: string;
}

function who(w: World, c: Caller): { project: string; roles: string[] } {
  switch (c) {
    case "ownerReader":
      return { project: w.owner, roles: ["reader"] };
    case "ownerMember":
      return { project: w.owner, roles: ["member", "reader"] };
    case "ownerNone":
      return { project: w.owner, roles: [] };
    case "memberReader":
      return { project: w.member, roles: ["reader"] };
    case "memberMember":
      return { project: w.member, roles: ["member", "reader"] };
    case "stranger":
      return { project: project("stranger"), roles: ["member", "reader"] };
    case "admin":
      return { project: project("admin"), roles: ["admin", "member", "reader"] };
  }
}

/** A route's request: its method and path, and a body (and Content-Type) when it has one. */
interface Req extends Pick<CallOptions, "body" | "raw" | "type"> {
  method: string;
  path: string;
}

const FORMATS = { disk_format: "raw", container_format: "bare" };

/** A shared image with formats set, `member` holding a (pending) membership; data when asked. */
async function world(state: "queued" | "active" | "deactivated" = "queued", fields = {}): Promise<World> {
  const owner = project("owner");
  const member = project("member");
  const id = await createImage(owner, { ...FORMATS, ...fields });
  await addMember(owner, id, member);
  if (state !== "queued") {
    const up = await call("PUT", `/v2/images/${id}/file`, {
      who: { project: owner },
      raw: new Uint8Array([1, 2, 3]),
      type: "application/octet-stream",
    });
    expect(up.status, await up.clone().text()).toBe(204);
  }
  if (state === "deactivated") {
    const res = await as(owner).post(`/v2/images/${id}/actions/deactivate`);
    expect(res.status, await res.clone().text()).toBe(204);
  }
  return { id, owner, member };
}

/** The image's row and its members, to show that a refusal changed nothing. */
async function snapshot(id: string) {
  const image = await env.DB.prepare("SELECT * FROM images WHERE id = ?1").bind(id).first();
  const members = await env.DB.prepare("SELECT * FROM image_members WHERE image_id = ?1 ORDER BY member_id")
    .bind(id)
    .all();
  return JSON.stringify([image, members.results]);
}

/** An expected answer: a success status, or an error status and its message for this image. */
type Outcome = number | [number, (id: string) => string];
const na = (rule: string): Outcome => [403, () => `You are not authorized to complete ${rule} action.`];
const HIDDEN: Outcome = [404, () => "The resource could not be found."];
const NO_IMAGE: Outcome = [404, (id) => `No image found with ID ${id}`];
const NOT_OWNER: Outcome = [403, () => "You do not own this image"];

interface Route {
  name: string;
  state?: "queued" | "active" | "deactivated";
  request: (w: World) => Req;
  expect: Record<Mode, Record<Caller, Outcome>>;
}

/** Glance's answers where the rules are the defaults' and the image is a plain shared one. */
const ROUTES: Route[] = [
  {
    name: "GET /v2/images/{id}",
    request: (w) => ({ method: "GET", path: `/v2/images/${w.id}` }),
    expect: {
      "secure-rbac": {
        ownerReader: 200,
        ownerMember: 200,
        ownerNone: HIDDEN,
        memberReader: 200,
        memberMember: 200,
        stranger: NO_IMAGE,
        admin: 200,
      },
      legacy: {
        ownerReader: 200,
        ownerMember: 200,
        ownerNone: 200,
        memberReader: 200,
        memberMember: 200,
        stranger: NO_IMAGE,
        admin: 200,
      },
    },
  },
  {
    name: "PATCH /v2/images/{id} (name)",
    request: (w) => ({
      method: "PATCH",
      type: JSON_PATCH,
      path: `/v2/images/${w.id}`,
      body: [{ op: "replace", path: "/name", value: "renamed" }],
    }),
    expect: {
      "secure-rbac": {
        ownerReader: na("modify_image"),
        ownerMember: 200,
        ownerNone: HIDDEN,
        memberReader: na("modify_image"),
        memberMember: na("modify_image"),
        stranger: NO_IMAGE,
        admin: 200,
      },
      legacy: {
        ownerReader: 200,
        ownerMember: 200,
        ownerNone: 200,
        memberReader: NOT_OWNER,
        memberMember: NOT_OWNER,
        stranger: NO_IMAGE,
        admin: 200,
      },
    },
  },
  {
    name: "PATCH /v2/images/{id} (visibility community)",
    request: (w) => ({
      method: "PATCH",
      type: JSON_PATCH,
      path: `/v2/images/${w.id}`,
      body: [{ op: "replace", path: "/visibility", value: "community" }],
    }),
    expect: {
      "secure-rbac": {
        // communitize_image first, never hidden; then modify_image.
        ownerReader: na("communitize_image"),
        ownerMember: 200,
        ownerNone: na("communitize_image"),
        memberReader: na("communitize_image"),
        memberMember: na("communitize_image"),
        stranger: NO_IMAGE,
        admin: 200,
      },
      legacy: {
        ownerReader: 200,
        ownerMember: 200,
        ownerNone: 200,
        memberReader: NOT_OWNER,
        memberMember: NOT_OWNER,
        stranger: NO_IMAGE,
        admin: 200,
      },
    },
  },
  {
    name: "PATCH /v2/images/{id} (visibility public)",
    request: (w) => ({
      method: "PATCH",
      type: JSON_PATCH,
      path: `/v2/images/${w.id}`,
      body: [{ op: "replace", path: "/visibility", value: "public" }],
    }),
    expect: {
      "secure-rbac": {
        ownerReader: na("publicize_image"),
        ownerMember: na("publicize_image"),
        ownerNone: na("publicize_image"),
        memberReader: na("publicize_image"),
        memberMember: na("publicize_image"),
        stranger: NO_IMAGE,
        admin: 200,
      },
      legacy: {
        ownerReader: na("publicize_image"),
        ownerMember: na("publicize_image"),
        ownerNone: na("publicize_image"),
        memberReader: na("publicize_image"),
        memberMember: na("publicize_image"),
        stranger: NO_IMAGE,
        admin: 200,
      },
    },
  },
  {
    name: "PATCH /v2/images/{id} (owner)",
    request: (w) => ({
      method: "PATCH",
      type: JSON_PATCH,
      path: `/v2/images/${w.id}`,
      body: [{ op: "replace", path: "/owner", value: w.member }],
    }),
    expect: Object.fromEntries(
      MODES.map((m) => [
        m,
        {
          ownerReader: [403, () => "Owner can't be updated by non admin."],
          ownerMember: [403, () => "Owner can't be updated by non admin."],
          ownerNone: [403, () => "Owner can't be updated by non admin."],
          memberReader: [403, () => "Owner can't be updated by non admin."],
          memberMember: [403, () => "Owner can't be updated by non admin."],
          stranger: NO_IMAGE,
          admin: 200,
        },
      ]),
    ) as unknown as Route["expect"],
  },
  {
    name: "DELETE /v2/images/{id}",
    request: (w) => ({ method: "DELETE", path: `/v2/images/${w.id}` }),
    expect: {
      "secure-rbac": {
        ownerReader: na("delete_image"),
        ownerMember: 204,
        ownerNone: HIDDEN,
        memberReader: na("delete_image"),
        memberMember: na("delete_image"),
        stranger: [404, (id) => `Failed to find image ${id} to delete`],
        admin: 204,
      },
      legacy: {
        ownerReader: 204,
        ownerMember: 204,
        ownerNone: 204,
        memberReader: NOT_OWNER,
        memberMember: NOT_OWNER,
        stranger: [404, (id) => `Failed to find image ${id} to delete`],
        admin: 204,
      },
    },
  },
  {
    name: "PUT /v2/images/{id}/file",
    request: (w) => ({
      method: "PUT",
      path: `/v2/images/${w.id}/file`,
      raw: new Uint8Array([9, 9]),
      type: "application/octet-stream",
    }),
    expect: {
      "secure-rbac": {
        ownerReader: na("upload_image"),
        ownerMember: 204,
        ownerNone: HIDDEN,
        memberReader: na("upload_image"),
        memberMember: na("upload_image"),
        stranger: NO_IMAGE,
        admin: 204,
      },
      legacy: {
        ownerReader: 204,
        ownerMember: 204,
        ownerNone: 204,
        memberReader: [403, (id) => `Not allowed to upload image data for image ${id}`],
        memberMember: [403, (id) => `Not allowed to upload image data for image ${id}`],
        stranger: NO_IMAGE,
        admin: 204,
      },
    },
  },
  {
    name: "GET /v2/images/{id}/file",
    state: "active",
    request: (w) => ({ method: "GET", path: `/v2/images/${w.id}/file` }),
    expect: {
      "secure-rbac": {
        // download_image wants role:member, also of the owner.
        ownerReader: na("download_image"),
        ownerMember: 200,
        ownerNone: HIDDEN,
        memberReader: na("download_image"),
        memberMember: 200,
        stranger: NO_IMAGE,
        admin: 200,
      },
      legacy: {
        ownerReader: 200,
        ownerMember: 200,
        ownerNone: 200,
        memberReader: 200,
        memberMember: 200,
        stranger: NO_IMAGE,
        admin: 200,
      },
    },
  },
  {
    name: "GET /v2/images/{id}/file (deactivated)",
    state: "deactivated",
    request: (w) => ({ method: "GET", path: `/v2/images/${w.id}/file` }),
    // Glance checks deactivation before download_image: even a caller it would hide gets 403.
    expect: Object.fromEntries(
      MODES.map((m) => {
        const off: Outcome = [
          403,
          () => "The requested image has been deactivated. Image data download is forbidden.",
        ];
        return [
          m,
          {
            ownerReader: off,
            ownerMember: off,
            ownerNone: off,
            memberReader: off,
            memberMember: off,
            stranger: NO_IMAGE,
            admin: 200,
          },
        ];
      }),
    ) as unknown as Route["expect"],
  },
  ...(["deactivate", "reactivate"] as const).map(
    (action): Route => ({
      name: `POST /v2/images/{id}/actions/${action}`,
      state: action === "deactivate" ? "active" : "deactivated",
      request: (w) => ({ method: "POST", path: `/v2/images/${w.id}/actions/${action}` }),
      expect: {
        "secure-rbac": {
          ownerReader: na(action),
          ownerMember: 204,
          ownerNone: HIDDEN,
          memberReader: na(action),
          memberMember: na(action),
          stranger: NO_IMAGE,
          admin: 204,
        },
        legacy: {
          ownerReader: 204,
          ownerMember: 204,
          ownerNone: 204,
          memberReader: NOT_OWNER,
          memberMember: NOT_OWNER,
          stranger: NO_IMAGE,
          admin: 204,
        },
      },
    }),
  ),
  ...(
    [
      ["PUT", "update", "t-new"],
      ["DELETE", "delete", "t-old"],
    ] as const
  ).map(
    ([method, action, tag]): Route => ({
      name: `${method} /v2/images/{id}/tags/{tag}`,
      request: (w) => ({ method, path: `/v2/images/${w.id}/tags/${tag}` }),
      expect: {
        "secure-rbac": {
          ownerReader: na("modify_image"),
          ownerMember: 204,
          ownerNone: HIDDEN,
          memberReader: na("modify_image"),
          memberMember: na("modify_image"),
          stranger: [404, (id) => `Image ${id} not found.`],
          admin: 204,
        },
        legacy: {
          ownerReader: 204,
          ownerMember: 204,
          ownerNone: 204,
          memberReader: [403, (id) => `Not allowed to ${action} tags for image ${id}.`],
          memberMember: [403, (id) => `Not allowed to ${action} tags for image ${id}.`],
          stranger: [404, (id) => `Image ${id} not found.`],
          admin: 204,
        },
      },
    }),
  ),
];

const cells = ROUTES.flatMap((route) =>
  MODES.flatMap((mode) => CALLERS.map((caller) => ({ route, mode, caller, label: route.name }))),
);

describe.each(MODES)("image routes under %s (docs/reference.md §11)", (mode) => {
  it.each(cells.filter((c) => c.mode === mode))("$label as $caller", async ({ route, caller }) => {
    const w = await world(route.state ?? "queued", { tags: ["t-old"] });
    const before = await snapshot(w.id);
    const { method, path, ...req } = route.request(w);
    const res = await call(method, path, { ...req, who: who(w, caller), vars: { POLICY_DEFAULTS: mode } });
    const outcome = route.expect[mode][caller];
    if (typeof outcome === "number") {
      // Image data is no text: bodyText gives its size (workerd warns of .text() on it).
      expect(res.status, await bodyText(res)).toBe(outcome);
    } else {
      await expectError(res, outcome[0], outcome[1](w.id));
      expect(await snapshot(w.id), "a refusal changes nothing").toBe(before);
    }
  });
});

describe("what the allowed requests did", () => {
  it("deactivate, reactivate: the status moves; repeating either is a 204 no-op", async () => {
    const w = await world("active");
    const owner = as(w.owner);
    const status = async () =>
      ((await (await owner.get(`/v2/images/${w.id}`)).json()) as { status: string }).status;
    expect((await owner.post(`/v2/images/${w.id}/actions/deactivate`)).status).toBe(204);
    expect(await status()).toBe("deactivated");
    const stamp = await snapshot(w.id);
    expect((await owner.post(`/v2/images/${w.id}/actions/deactivate`)).status).toBe(204);
    expect(await snapshot(w.id), "a no-op writes nothing").toBe(stamp);
    expect((await owner.post(`/v2/images/${w.id}/actions/reactivate`)).status).toBe(204);
    expect(await status()).toBe("active");
    expect((await owner.post(`/v2/images/${w.id}/actions/reactivate`)).status).toBe(204);
    expect(await status()).toBe("active");
  });

  it("deactivate and reactivate act on active and deactivated images only (403, Glance's words)", async () => {
    const w = await world("queued");
    const owner = as(w.owner);
    const before = await snapshot(w.id);
    await expectError(
      await owner.post(`/v2/images/${w.id}/actions/deactivate`),
      403,
      "Not allowed to deactivate image in status 'queued'",
    );
    await expectError(
      await owner.post(`/v2/images/${w.id}/actions/reactivate`),
      403,
      "Not allowed to reactivate image in status 'queued'",
    );
    expect(await snapshot(w.id)).toBe(before);
    // The rules come first: a member is refused whatever the status.
    await expectError(
      await as(w.member).post(`/v2/images/${w.id}/actions/deactivate`),
      403,
      "You are not authorized to complete deactivate action.",
    );
  });

  it("a deactivated image is shown, not downloaded (but by an admin), and takes no upload", async () => {
    const w = await world("deactivated");
    const shown = await as(w.member).get(`/v2/images/${w.id}`);
    expect(((await shown.json()) as { status: string }).status).toBe("deactivated");
    const res = await admin().get(`/v2/images/${w.id}/file`);
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toStrictEqual(new Uint8Array([1, 2, 3]));
    await expectError(
      await call("PUT", `/v2/images/${w.id}/file`, {
        who: { project: w.owner },
        raw: new Uint8Array([4]),
        type: "application/octet-stream",
      }),
      409,
      "Image status transition from deactivated to saving is not allowed",
    );
    // Reactivated, the data is everyone's again.
    expect((await as(w.owner).post(`/v2/images/${w.id}/actions/reactivate`)).status).toBe(204);
    const again = await as(w.member).get(`/v2/images/${w.id}/file`);
    expect(again.status).toBe(200);
    await again.arrayBuffer();
  });

  it("unknown and malformed ids are 404 on the new routes", async () => {
    const me = as(project());
    for (const id of [crypto.randomUUID(), "not-a-uuid"]) {
      await expectError(
        await me.post(`/v2/images/${id}/actions/deactivate`),
        404,
        `No image found with ID ${id}`,
      );
      await expectError(
        await me.post(`/v2/images/${id}/actions/reactivate`),
        404,
        `No image found with ID ${id}`,
      );
      await expectError(await me.put(`/v2/images/${id}/tags/x`), 404, `Image ${id} not found.`);
      await expectError(await me.delete(`/v2/images/${id}/tags/x`), 404, `Image ${id} not found.`);
    }
  });

  it("other methods on the new paths are 405 with Allow", async () => {
    const w = await world();
    for (const [path, allow, methods] of [
      [`/v2/images/${w.id}/actions/deactivate`, "POST", ["GET", "PUT", "DELETE", "PATCH"]],
      [`/v2/images/${w.id}/actions/reactivate`, "POST", ["GET", "PUT", "DELETE", "PATCH"]],
      [`/v2/images/${w.id}/tags/a`, "PUT, DELETE", ["GET", "POST", "PATCH"]],
    ] as const) {
      for (const method of methods) {
        const res = await call(method, path, { who: { project: w.owner } });
        await expectError(res, 405, "The method is not allowed for the requested URL.");
        expect(res.headers.get("Allow")).toBe(allow);
      }
    }
  });
});
