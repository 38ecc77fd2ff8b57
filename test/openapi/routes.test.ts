import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { ROUTES } from "../../src/openapi/routes";

/** The route table (src/openapi/routes.ts) and the app's registered routes are the same set. */
describe("the OpenAPI route table", () => {
  const registered = [
    ...new Set(
      app.routes
        // `use` middleware and allowOnly's 405 guards register as ALL.
        .filter((r) => r.method !== "ALL")
        .map((r) => `${r.method} ${r.path}`),
    ),
  ].sort();
  const documented = ROUTES.map(
    (r) => `${r.method.toUpperCase()} ${r.path.replace(/\{([^}]+)\}/g, ":$1")}`,
  ).sort();

  it("lists every route the app registers, and no other", () => {
    expect(documented).toEqual(registered);
  });

  it("has one operation per method and path, each with its own operationId", () => {
    expect(new Set(documented).size).toBe(documented.length);
    const ids = ROUTES.map((r) => r.operationId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("covers the member, sharing, image, data, tag, action, schema and discovery routes", () => {
    for (const route of [
      "GET /v2/images/:image_id/members",
      "POST /v2/images/:image_id/members",
      "GET /v2/images/:image_id/members/:member_id",
      "PUT /v2/images/:image_id/members/:member_id",
      "PATCH /v2/images/:image_id/members/:member_id",
      "DELETE /v2/images/:image_id/members/:member_id",
      "GET /v2/shares",
      "POST /v2/shares",
      "GET /v2/member-events",
      "PUT /v2/images/:image_id/file",
      "PUT /v2/images/:image_id/tags/:tag",
      "POST /v2/images/:image_id/actions/deactivate",
      "GET /v2/schemas/member-events",
      "GET /versions",
      "GET /openapi.json",
    ]) {
      expect(documented).toContain(route);
    }
  });
});
