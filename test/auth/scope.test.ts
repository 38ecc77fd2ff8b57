import { describe, expect, it } from "vitest";
import { addMember, call, createImage, dump, expectError, LEGACY, project } from "../helpers";

/**
 * Tokens scoped to the system or a domain (keystonemiddleware's X-System-Scope / X-Domain-Id):
 * valid identities that act for no project. Under secure-rbac every Glance rule is for project
 * scope (oslo.policy's enforce_scope), so image routes refuse them as Glance with enforce_scope
 * does: 403 for the list and create, 404 for any image, existing or not; member routes keep
 * docs/reference.md §1's 401. Under legacy, no project is 401 everywhere.
 */
const system = (roles = "admin,member,reader") => ({
  "X-Identity-Status": "Confirmed",
  "X-User-Id": "cloud-admin",
  "X-Roles": roles,
  "X-System-Scope": "all",
});
const domain = {
  "X-Identity-Status": "Confirmed",
  "X-User-Id": "domain-admin",
  "X-Roles": "admin",
  "X-Domain-Id": "d1",
};
const NOT_FOUND = "The resource could not be found.";

describe("system- and domain-scoped tokens (docs/reference.md §1, §11)", () => {
  it("image routes: refused by scope, an image's existence never shows; nothing written", async () => {
    const owner = project("owner");
    const id = await createImage(owner, { visibility: "public" }, ["admin", "member", "reader"]);
    const missing = crypto.randomUUID();
    const before = await dump();
    for (const headers of [system(), system("reader"), domain]) {
      await expectError(
        await call("GET", "/v2/images", { headers }),
        403,
        "You are not authorized to complete get_images action.",
      );
      await expectError(
        await call("POST", "/v2/images", { headers, body: { name: "x" } }),
        403,
        "You are not authorized to complete add_image action.",
      );
      await expectError(await call("GET", `/v2/images/${id}`, { headers }), 404, NOT_FOUND);
      await expectError(
        await call("GET", `/v2/images/${missing}`, { headers }),
        404,
        `No image found with ID ${missing}`,
      );
      const patch = await call("PATCH", `/v2/images/${id}`, {
        headers: { ...headers, "Content-Type": "application/openstack-images-v2.1-json-patch" },
        body: [{ op: "replace", path: "/name", value: "y" }],
      });
      await expectError(patch, 404, NOT_FOUND);
      await expectError(await call("DELETE", `/v2/images/${id}`, { headers }), 404, NOT_FOUND);
      await expectError(await call("GET", `/v2/images/${id}/file`, { headers }), 404, NOT_FOUND);
      await expectError(
        await call("POST", `/v2/images/${id}/actions/deactivate`, { headers }),
        404,
        NOT_FOUND,
      );
      await expectError(await call("PUT", `/v2/images/${id}/tags/t`, { headers }), 404, NOT_FOUND);
    }
    expect(await dump()).toBe(before);
  });

  it("member routes: 401, as for any caller without a project (docs/reference.md §1)", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    await addMember(owner, id, project("m"));
    for (const headers of [system(), domain]) {
      expect((await call("GET", `/v2/images/${id}/members`, { headers })).status).toBe(401);
      expect(
        (await call("POST", `/v2/images/${id}/members`, { headers, body: { member_id: "x" } })).status,
      ).toBe(401);
    }
  });

  it("legacy: no project is 401 on image routes too; a project-scoped token is not affected", async () => {
    expect((await call("GET", "/v2/images", { headers: system(), vars: LEGACY })).status).toBe(401);
    const p = project("p");
    const headers = { ...system(), "X-Project-Id": p };
    expect((await call("GET", "/v2/images", { headers })).status).toBe(200);
  });
});
