import { afterAll, expect } from "vitest";
import { app } from "../../src/app";
import worker from "../../src/index";
import { openApiDocument } from "../../src/openapi/document";
import { Contract, seen } from "./contract";

/**
 * Setup file (vitest.config.ts): every answer any test gets from the app is checked against the
 * OpenAPI document. Tests reach the app two ways, and both are wrapped here, in the module
 * instances the tests themselves import: `exports.default.fetch` (cloudflare:workers) dispatches
 * to src/index.ts's default export, and `app.fetch` / fetchWith call src/app.ts's `app`.
 * An answer the document does not declare fails the request that got it (the fetch rejects with
 * the reasons) and, should a test swallow that, the file's afterAll.
 *
 * Not covered: apps a test builds itself after vi.resetModules() (buildApp() in a fresh module
 * graph; test/hardening/security.test.ts's once-per-isolate warnings).
 */
const contract = new Contract(JSON.parse(JSON.stringify(openApiDocument("http://glance.test"))));
const violations: string[] = [];
/** How many answers were checked, for test/openapi/wiring.test.ts. */
const counter = globalThis as { contractChecks?: number };

export class ContractViolation extends Error {
  override name = "ContractViolation";
}

type Fetch = (request: Request, env?: unknown, ctx?: unknown) => Response | Promise<Response>;

function checking(fetch: Fetch): Fetch {
  return async (input, env, ctx) => {
    // The app reads the body; the check needs only the method and URL, taken before.
    const { method, url } = input instanceof Request ? input : new Request(input);
    const res = await fetch(input, env, ctx);
    const problems = contract.check(await seen({ method, url }, res));
    counter.contractChecks = (counter.contractChecks ?? 0) + 1;
    if (problems.length > 0) {
      violations.push(...problems);
      throw new ContractViolation(`the answer is not in the OpenAPI document:\n${problems.join("\n")}`);
    }
    return res;
  };
}

const target = worker as { fetch: Fetch };
target.fetch = checking(target.fetch);
(app as { fetch: Fetch }).fetch = checking(app.fetch as Fetch);

afterAll(() => {
  expect(violations, "answers the OpenAPI document does not declare").toEqual([]);
});
