import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { Contract, seen } from "./contract";

/** The contract checker itself: real answers pass, answers the document does not declare fail. */
const BASE = "http://glance.test";
const who = (project: string) => ({
  "X-Identity-Status": "Confirmed",
  "X-Project-Id": project,
  "X-Roles": "member,reader",
  Accept: "application/json",
});

let contract: Contract;
beforeAll(async () => {
  const res = await exports.default.fetch(new Request(`${BASE}/openapi.json`));
  contract = new Contract(await res.json());
});

/** A request through the real app, and what the contract says of its answer. */
async function checked(
  method: string,
  path: string,
  init: { headers?: Record<string, string>; body?: unknown } = {},
) {
  const request = new Request(`${BASE}${path}`, {
    method,
    headers: init.headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const res = await exports.default.fetch(request.clone());
  return { res, problems: contract.check(await seen(request, res)) };
}

/** A made-up answer to a request, as the app never gives it. */
const fake = (
  method: string,
  path: string,
  status: number,
  body: string | null,
  headers: Record<string, string>,
) => contract.check({ method, url: `${BASE}${path}`, status, body, headers: new Headers(headers) });

const RID = { "x-openstack-request-id": "req-00000000-0000-4000-8000-000000000000" };
const JSON_TYPE = { ...RID, "content-type": "application/json" };

describe("the contract check", () => {
  it("passes what the service answers along a sharing walk-through", async () => {
    const owner = `owner-${crypto.randomUUID().slice(0, 8)}`;
    const member = `member-${crypto.randomUUID().slice(0, 8)}`;
    const created = await checked("POST", "/v2/images", { headers: who(owner), body: { name: "x" } });
    expect(created.problems).toEqual([]);
    const id = ((await created.res.json()) as { id: string }).id;
    const steps = [
      await checked("POST", `/v2/images/${id}/members`, { headers: who(owner), body: { member_id: member } }),
      await checked("POST", `/v2/images/${id}/members`, { headers: who(owner), body: { member_id: member } }),
      await checked("PUT", `/v2/images/${id}/members/${member}`, {
        headers: who(member),
        body: { status: "accepted" },
      }),
      await checked("PATCH", `/v2/images/${id}/members/${member}`, {
        headers: who(owner),
        body: { expires_at: "2031-01-01T00:00:00Z" },
      }),
      await checked("GET", `/v2/images/${id}/members`, { headers: who(owner) }),
      await checked("GET", `/v2/images/${id}`, { headers: who(member) }),
      await checked("GET", "/v2/shares", { headers: who(member) }),
      await checked("GET", "/v2/member-events", { headers: who(owner) }),
      await checked("POST", "/v2/shares", {
        headers: who(owner),
        body: { images: [id], members: [member, "other"] },
      }),
      await checked("GET", `/v2/images/${id}/members/nobody`, { headers: who(owner) }),
      await checked("DELETE", `/v2/images/${id}/members/${member}`, { headers: who(owner) }),
      await checked("GET", "/v2/images?limit=1", { headers: who(owner) }),
      await checked("GET", `/v2/images/${id}/file`, { headers: who(owner) }),
      await checked("GET", "/v2/schemas/image", { headers: who(owner) }),
      await checked("GET", "/versions"),
      await checked("GET", "/"),
      await checked("GET", "/docs"),
      await checked("HEAD", "/versions"),
    ];
    expect(steps.map((s) => s.res.status)).toEqual([
      200, 409, 200, 200, 200, 200, 200, 200, 200, 404, 204, 200, 204, 200, 200, 300, 200, 200,
    ]);
    expect(steps.flatMap((s) => s.problems)).toEqual([]);
  });

  it("passes errors in both forms, 401 without identity, 405 with Allow and 404 for unknown paths", async () => {
    const id = crypto.randomUUID();
    const plain = await checked("GET", `/v2/images/${id}/members`, {
      headers: { ...who("p"), Accept: "*/*" },
    });
    expect(plain.res.headers.get("Content-Type")).toMatch(/^text\/plain/);
    const results = [
      plain,
      await checked("GET", `/v2/images/${id}/members`, { headers: { Accept: "application/json" } }),
      await checked("POST", "/versions"),
      await checked("TRACE", `/v2/images/${id}/members`, { headers: who("p") }),
      await checked("GET", "/nowhere"),
      await checked("GET", "/v2/nowhere", { headers: who("p") }),
      await checked("POST", `/v2/images/${id}/members`, { headers: who("p"), body: [] }),
    ];
    expect(results.map((r) => r.res.status)).toEqual([404, 401, 405, 405, 404, 404, 400]);
    expect(results.flatMap((r) => r.problems)).toEqual([]);
  });

  it("fails a status the operation does not declare", () => {
    expect(
      fake(
        "GET",
        "/v2/images/x/members",
        409,
        '{"message":"m","code":"409 Conflict","title":"Conflict"}',
        JSON_TYPE,
      ),
    ).toEqual([
      "GET /v2/images/x/members → 409: not declared (the document lists 200, 400, 401, 403, 404, 413, 500, 503)",
    ]);
  });

  it("fails a body that does not match the declared schema", () => {
    const member = {
      member_id: "m",
      image_id: crypto.randomUUID(),
      status: "pending",
      created_at: "t",
      updated_at: "t",
      schema: "/v2/schemas/member",
    };
    expect(fake("GET", "/v2/images/x/members/m", 200, JSON.stringify(member), JSON_TYPE)).toEqual([]);
    const [problem] = fake(
      "GET",
      "/v2/images/x/members/m",
      200,
      JSON.stringify({ ...member, extra: 1 }),
      JSON_TYPE,
    );
    expect(problem).toMatch(/does not match the document/);
    expect(
      fake(
        "GET",
        "/v2/images/x/members/m",
        200,
        JSON.stringify({ ...member, status: "maybe" }),
        JSON_TYPE,
      )[0],
    ).toMatch(/does not match/);
    expect(
      fake("GET", "/v2/images/x", 404, JSON.stringify({ message: "m", code: "404 Not Found" }), JSON_TYPE)[0],
    ).toMatch(/does not match/);
    expect(
      fake("GET", "/v2/images/x", 404, "not found", { ...RID, "content-type": "text/plain" })[0],
    ).toMatch(/does not match/);
  });

  it("fails a missing required header, a media type not declared, a body where none is declared", () => {
    const error = '{"message":"m","code":"503 Service Unavailable","title":"Service Unavailable"}';
    expect(fake("GET", "/v2/images", 503, error, JSON_TYPE)).toEqual([
      "GET /v2/images → 503: header Retry-After is required and missing",
    ]);
    expect(fake("GET", "/versions", 200, '{"versions":[]}', { "content-type": "application/json" })).toEqual([
      "GET /versions → 200: header x-openstack-request-id is required and missing",
    ]);
    expect(fake("GET", "/versions", 200, "<p>", { ...RID, "content-type": "text/html" })).toEqual([
      "GET /versions → 200: Content-Type text/html, the document has application/json",
    ]);
    const id = crypto.randomUUID();
    expect(fake("DELETE", `/v2/images/${id}`, 204, "gone", RID)).toEqual([
      `DELETE /v2/images/${id} → 204: a body, where the document declares none`,
    ]);
  });

  it("fails a path or a method the document does not have, and a wrong Allow", () => {
    expect(fake("GET", "/v3/images", 200, "{}", JSON_TYPE)).toEqual([
      "GET /v3/images → 200: the document has no such path",
    ]);
    expect(fake("POST", "/versions", 200, "{}", JSON_TYPE)).toEqual([
      "POST /versions → 200: the document declares no POST on /versions (it has GET)",
    ]);
    const error = '{"message":"m","code":"405 Method Not Allowed","title":"Method Not Allowed"}';
    expect(fake("POST", "/versions", 405, error, { ...JSON_TYPE, allow: "GET, POST" })).toEqual([
      'POST /versions → 405: Allow "GET, POST", the document has GET',
    ]);
  });
});
