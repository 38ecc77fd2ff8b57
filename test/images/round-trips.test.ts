import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { addMember, as, type Counted, call, callCounted, createImage, JSON_PATCH, project } from "../helpers";
import { isWrite, type Statement } from "../perf/counting-db";

/**
 * docs/reference.md §11 "Atomic" on the image routes: one D1 round trip per request (a batch of the read
 * that explains a refusal and the one guarded write), success or refusal, and each write's
 * WHERE carries the route's rules. PATCH stays at read + guarded compare-and-set write.
 * Every statement is keyed by id: no plan step scans images or image_members.
 */
const MEMBER = ["member", "reader"];
const FORMATS = { disk_format: "raw", container_format: "bare" };

async function fixture(state: "queued" | "active" | "deactivated" = "active") {
  const owner = project("owner");
  const member = project("member");
  const id = await createImage(owner, { ...FORMATS, tags: ["t"] });
  await addMember(owner, id, member);
  const me = { project: owner, roles: MEMBER };
  if (state !== "queued") {
    const up = await call("PUT", `/v2/images/${id}/file`, {
      who: me,
      raw: new Uint8Array([1]),
      type: "application/octet-stream",
    });
    expect(up.status).toBe(204);
  }
  if (state === "deactivated")
    expect((await as(owner).post(`/v2/images/${id}/actions/deactivate`)).status).toBe(204);
  return {
    id,
    owner: me,
    member: { project: member, roles: MEMBER },
    stranger: { project: project("s"), roles: MEMBER },
  };
}

type Fx = Awaited<ReturnType<typeof fixture>>;
interface Case {
  route: string;
  outcome: string;
  state?: "queued" | "active" | "deactivated";
  status: number;
  trips: number;
  write?: RegExp;
  run: (f: Fx) => Promise<Counted>;
}

const UPDATE_IMAGE = /^\s*UPDATE images AS i\b/i;
const DELETE_IMAGE = /^\s*DELETE FROM images\b/i;
const action = (a: string) => (f: Fx, who: Fx["owner"]) =>
  callCounted("POST", `/v2/images/${f.id}/actions/${a}`, { who });

const CASES: Case[] = [
  {
    route: "deactivate",
    outcome: "204 done",
    status: 204,
    trips: 1,
    write: UPDATE_IMAGE,
    run: (f) => action("deactivate")(f, f.owner),
  },
  {
    route: "deactivate",
    outcome: "204 no-op",
    state: "deactivated",
    status: 204,
    trips: 1,
    write: UPDATE_IMAGE,
    run: (f) => action("deactivate")(f, f.owner),
  },
  {
    route: "deactivate",
    outcome: "403 status",
    state: "queued",
    status: 403,
    trips: 1,
    write: UPDATE_IMAGE,
    run: (f) => action("deactivate")(f, f.owner),
  },
  {
    route: "deactivate",
    outcome: "403 rule",
    status: 403,
    trips: 1,
    write: UPDATE_IMAGE,
    run: (f) => action("deactivate")(f, f.member),
  },
  {
    route: "deactivate",
    outcome: "404 not visible",
    status: 404,
    trips: 1,
    write: UPDATE_IMAGE,
    run: (f) => action("deactivate")(f, f.stranger),
  },
  {
    route: "reactivate",
    outcome: "204 done",
    state: "deactivated",
    status: 204,
    trips: 1,
    write: UPDATE_IMAGE,
    run: (f) => action("reactivate")(f, f.owner),
  },
  {
    route: "reactivate",
    outcome: "403 rule",
    state: "deactivated",
    status: 403,
    trips: 1,
    write: UPDATE_IMAGE,
    run: (f) => action("reactivate")(f, f.member),
  },
  {
    route: "PUT tag",
    outcome: "204 added",
    status: 204,
    trips: 1,
    write: UPDATE_IMAGE,
    run: (f) => callCounted("PUT", `/v2/images/${f.id}/tags/n`, { who: f.owner }),
  },
  {
    route: "PUT tag",
    outcome: "403 rule",
    status: 403,
    trips: 1,
    write: UPDATE_IMAGE,
    run: (f) => callCounted("PUT", `/v2/images/${f.id}/tags/n`, { who: f.member }),
  },
  {
    route: "PUT tag",
    outcome: "404 not visible",
    status: 404,
    trips: 1,
    write: UPDATE_IMAGE,
    run: (f) => callCounted("PUT", `/v2/images/${f.id}/tags/n`, { who: f.stranger }),
  },
  {
    route: "PUT tag",
    outcome: "400 too long (no database)",
    status: 400,
    trips: 0,
    run: (f) => callCounted("PUT", `/v2/images/${f.id}/tags/${"x".repeat(256)}`, { who: f.owner }),
  },
  {
    route: "DELETE tag",
    outcome: "204 removed",
    status: 204,
    trips: 1,
    write: UPDATE_IMAGE,
    run: (f) => callCounted("DELETE", `/v2/images/${f.id}/tags/t`, { who: f.owner }),
  },
  {
    route: "DELETE tag",
    outcome: "404 no such tag",
    status: 404,
    trips: 1,
    write: UPDATE_IMAGE,
    run: (f) => callCounted("DELETE", `/v2/images/${f.id}/tags/zz`, { who: f.owner }),
  },
  {
    route: "DELETE tag",
    outcome: "403 rule",
    status: 403,
    trips: 1,
    write: UPDATE_IMAGE,
    run: (f) => callCounted("DELETE", `/v2/images/${f.id}/tags/t`, { who: f.member }),
  },
  {
    route: "GET image",
    outcome: "200",
    status: 200,
    trips: 1,
    run: (f) => callCounted("GET", `/v2/images/${f.id}`, { who: f.member }),
  },
  {
    route: "GET image",
    outcome: "404 hidden by get_image",
    status: 404,
    trips: 1,
    run: (f) => callCounted("GET", `/v2/images/${f.id}`, { who: { ...f.owner, roles: [] } }),
  },
  {
    route: "GET images",
    outcome: "403 get_images (no database)",
    status: 403,
    trips: 0,
    run: (f) => callCounted("GET", "/v2/images", { who: { ...f.owner, roles: [] } }),
  },
  {
    route: "GET images",
    outcome: "200 with a marker",
    status: 200,
    trips: 1,
    run: (f) => callCounted("GET", `/v2/images?marker=${f.id}`, { who: f.owner }),
  },
  {
    route: "POST images",
    outcome: "403 add_image (no database)",
    status: 403,
    trips: 0,
    run: (f) => callCounted("POST", "/v2/images", { who: { ...f.owner, roles: ["reader"] }, body: {} }),
  },
  {
    route: "DELETE image",
    outcome: "204",
    status: 204,
    trips: 1,
    write: DELETE_IMAGE,
    run: (f) => callCounted("DELETE", `/v2/images/${f.id}`, { who: f.owner }),
  },
  {
    route: "DELETE image",
    outcome: "403 rule",
    status: 403,
    trips: 1,
    write: DELETE_IMAGE,
    run: (f) => callCounted("DELETE", `/v2/images/${f.id}`, { who: f.member }),
  },
  {
    route: "PUT file",
    outcome: "403 rule",
    state: "queued",
    status: 403,
    trips: 1,
    write: UPDATE_IMAGE,
    run: (f) =>
      callCounted("PUT", `/v2/images/${f.id}/file`, {
        who: f.member,
        raw: new Uint8Array([1]),
        type: "application/octet-stream",
      }),
  },
  {
    route: "GET file",
    outcome: "200",
    status: 200,
    trips: 1,
    run: (f) => callCounted("GET", `/v2/images/${f.id}/file`, { who: f.member }),
  },
  {
    route: "GET file",
    outcome: "403 deactivated",
    state: "deactivated",
    status: 403,
    trips: 1,
    run: (f) => callCounted("GET", `/v2/images/${f.id}/file`, { who: f.member }),
  },
  {
    route: "PATCH image",
    outcome: "200 (read, guarded write)",
    status: 200,
    trips: 2,
    write: UPDATE_IMAGE,
    run: (f) =>
      callCounted("PATCH", `/v2/images/${f.id}`, {
        who: f.owner,
        body: [{ op: "replace", path: "/name", value: "n" }],
        type: JSON_PATCH,
      }),
  },
  {
    route: "PATCH image",
    outcome: "403 rule (read only)",
    status: 403,
    trips: 1,
    run: (f) =>
      callCounted("PATCH", `/v2/images/${f.id}`, {
        who: f.member,
        body: [{ op: "replace", path: "/name", value: "n" }],
        type: JSON_PATCH,
      }),
  },
];

/**
 * Plan steps that scan a table rather than look a row up. Not tables: json_each over one row,
 * and `SCAN (subquery-N)`, the rows one arm of the image list produced (at most its LIMIT).
 */
async function scans(s: Statement): Promise<string[]> {
  const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${s.sql}`)
    .bind(...s.params)
    .all<{ detail: string }>();
  return results
    .map((r) => r.detail)
    .filter((d) => /^SCAN /.test(d) && !/VIRTUAL TABLE/.test(d) && !/^SCAN \(subquery-\d+\)$/.test(d));
}

describe("image routes: round trips, guarded writes, query plans", () => {
  it.each(CASES)("$route $outcome: $trips", async (c) => {
    const f = await fixture(c.state);
    const sent = await c.run(f);
    expect(sent.status).toBe(c.status);
    expect(sent.trips.map((t) => t.kind)).toHaveLength(c.trips);
    const writes = sent.trips.filter((t) => t.statements.some(isWrite));
    if (c.write) {
      // The write is in the request's last round trip, after the read that explains a refusal.
      const last = sent.trips.at(-1)?.statements ?? [];
      expect(last.some((s) => c.write?.test(s.sql))).toBe(true);
      expect(writes).toHaveLength(1);
      const write = last.find(isWrite);
      // The rules are in the write's WHERE: at least the visibility rule's membership lookup.
      expect(write?.sql).toMatch(/\bWHERE\b[\s\S]*\blive_members\b/);
    } else if (c.route !== "PATCH image") {
      expect(writes).toHaveLength(0);
    }
    for (const trip of sent.trips) for (const s of trip.statements) expect(await scans(s), s.sql).toEqual([]);
  });
});
