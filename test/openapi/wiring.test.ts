import { createExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { expect, it } from "vitest";
import { app } from "../../src/app";

/** Both ways tests reach the app go through the contract check (test/openapi/contract-setup.ts). */
const checks = () => (globalThis as { contractChecks?: number }).contractChecks ?? 0;

it("checks answers got through exports.default.fetch and through app.fetch", async () => {
  const before = checks();
  await exports.default.fetch(new Request("http://glance.test/versions"));
  expect(checks()).toBe(before + 1);
  await app.fetch(new Request("http://glance.test/versions"), env, createExecutionContext());
  expect(checks()).toBe(before + 2);
});
