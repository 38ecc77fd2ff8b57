import { exports } from "cloudflare:workers";
import { Validator } from "@cfworker/json-schema";
import { describe, expect, it } from "vitest";
import { ROUTES } from "../../src/openapi/routes";

// biome-ignore lint/suspicious/noExplicitAny: a parsed document, walked by key in assertions.
type Json = Record<string, any>;

async function document(headers: Record<string, string> = {}): Promise<Json> {
  const res = await exports.default.fetch(new Request("http://glance.test/openapi.json", { headers }));
  expect(res.status).toBe(200);
  expect(res.headers.get("Content-Type")).toMatch(/^application\/json/);
  return res.json();
}

const operations = (doc: Json) =>
  Object.entries(doc.paths as Json).flatMap(([path, item]) =>
    Object.entries(item as Json).map(([method, op]) => ({ path, method, op: op as Json })),
  );

describe("GET /openapi.json", () => {
  it("answers without identity, an OpenAPI 3.1 document whose server is this service", async () => {
    const doc = await document();
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc.servers).toEqual([{ url: "http://glance.test", description: "This service" }]);
  });

  it("is plain JSON Schema throughout: no zod internals, no Glance-only keywords", async () => {
    const text = JSON.stringify(await document());
    expect(text).not.toMatch(/"(_zod|def|checks|is_base)":/);
  });

  it("declares the X-Auth-Token scheme on every /v2 operation and none on discovery", async () => {
    const doc = await document();
    expect(doc.components.securitySchemes.keystone).toMatchObject({
      type: "apiKey",
      in: "header",
      name: "X-Auth-Token",
    });
    for (const { path, op } of operations(doc)) {
      if (path.startsWith("/v2/")) expect(op.security, path).toContainEqual({ keystone: [] });
      else expect(op.security, path).toEqual([]);
    }
  });

  it("gives every operation its errors in docs/reference.md §2's two forms, and the request id on every answer", async () => {
    const doc = await document();
    expect(doc.components.responses.E404.content).toEqual({
      "application/json": { schema: { $ref: "#/components/schemas/Error" } },
      "text/plain": { schema: { $ref: "#/components/schemas/ErrorText" } },
    });
    expect(doc.components.responses.E503.headers["Retry-After"]).toBeDefined();
    expect(doc.components.responses.E429.headers["Retry-After"]).toBeDefined();
    expect(doc.components.headers.RequestId.required).toBe(true);
    for (const { path, method, op } of operations(doc)) {
      const statuses = Object.keys(op.responses);
      expect(statuses, `${method} ${path}`).toContain("500");
      if (path.startsWith("/v2/"))
        expect(statuses, `${method} ${path}`).toEqual(expect.arrayContaining(["401", "503"]));
      for (const [status, response] of Object.entries(op.responses as Json)) {
        // The asset layer answers the page's script before the Worker runs.
        if (response.$ref || path === "/docs/scalar.js") continue;
        expect(response.headers["x-openstack-request-id"], `${method} ${path} ${status}`).toBeDefined();
        if (path.startsWith("/v2/")) expect(response.headers["x-d1-bookmark"]).toBeDefined();
      }
    }
    const create = doc.paths["/v2/images"].post.responses["201"];
    expect(create.headers.Location.required).toBe(true);
  });

  it("marks glance-edge's extensions", async () => {
    const doc = await document();
    const ext = (path: string, method: string) => doc.paths[path][method]["x-glance-edge-extension"];
    expect(ext("/v2/shares", "get")).toBe(true);
    expect(ext("/v2/shares", "post")).toBe(true);
    expect(ext("/v2/member-events", "get")).toBe(true);
    expect(ext("/v2/images/{image_id}/members/{member_id}", "patch")).toBe(true);
    expect(ext("/v2/images/{image_id}/members", "post")).toBeUndefined();
    const add =
      doc.paths["/v2/images/{image_id}/members"].post.requestBody.content["application/json"].schema;
    expect(add.properties.expires_at["x-glance-edge-extension"]).toBe(true);
    expect(doc.components.parameters.D1Bookmark["x-glance-edge-extension"]).toBe(true);
  });

  it("takes its parameters from the validators: listQuery's enums, the shares filters", async () => {
    const doc = await document();
    const param = (path: string, name: string) =>
      (doc.paths[path].get.parameters as Json[]).find((p) => p.name === name);
    expect(param("/v2/images", "visibility")?.schema.enum).toEqual([
      "public",
      "private",
      "shared",
      "community",
      "all",
    ]);
    expect(param("/v2/images", "limit")?.schema).toMatchObject({ type: "string", pattern: "^\\d+$" });
    expect(param("/v2/shares", "member_id")).toMatchObject({ in: "query", required: false });
    expect(param("/v2/images/{image_id}/members/{member_id}", "member_id")).toMatchObject({
      in: "path",
      required: true,
    });
  });

  it("has request examples that its own schemas and the routes' validators accept", async () => {
    const doc = await document();
    for (const route of ROUTES) {
      if (!route.body) continue;
      const content = doc.paths[route.path][route.method].requestBody.content as Json;
      const [media, entry] = Object.entries(content)[0] as [string, Json];
      if (!media.includes("json")) continue;
      const v = new Validator(entry.schema, "2020-12", false);
      expect(v.validate(entry.example).valid, `${route.operationId} example against its schema`).toBe(true);
      if (route.body.validator) {
        const parsed = route.body.validator.safeParse(route.body.example);
        expect(parsed.success, `${route.operationId}: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
        // PUT's and PATCH's validators parse to a verdict rather than failing (see members/schemas.ts).
        expect(parsed.data).not.toBeNull();
        expect((parsed.data as { ok?: boolean }).ok).not.toBe(false);
      }
    }
  });

  it("embeds the schema documents served under /v2/schemas, made exact", async () => {
    const doc = await document();
    const served = (await (
      await exports.default.fetch(
        new Request("http://glance.test/v2/schemas/member", {
          headers: { "X-Identity-Status": "Confirmed", "X-Project-Id": "p", "X-Roles": "reader" },
        }),
      )
    ).json()) as Json;
    const member = doc.components.schemas.Member;
    expect(Object.keys(member.properties)).toEqual(Object.keys(served.properties));
    expect(member.additionalProperties).toBe(false);
    expect(member.required).toEqual([
      "member_id",
      "image_id",
      "status",
      "created_at",
      "updated_at",
      "schema",
    ]);
  });
});
