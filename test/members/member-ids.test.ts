import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from "vitest";
import { createKeystoneStrategy } from "../../src/auth/keystone";
import { UNAVAILABLE } from "../../src/http/errors";
import { FakeKeystone, KEYSTONE_URL, randomToken, SERVICE } from "../auth/keystone-fake";
import { as, call, createImage, dump, expectError, project } from "../helpers";

// VALIDATE_MEMBER_IDS (issue 10): the real app in keystone mode with a service user, a fake
// Keystone behind globalThis.fetch. Images are created in trusted-headers mode (same D1).

const VALIDATING: Cloudflare.Env = {
  ...env,
  AUTH_STRATEGY: "keystone",
  KEYSTONE_URL,
  ...SERVICE,
  TOKEN_CACHE_TTL: "300",
  VALIDATE_MEMBER_IDS: "true",
};

const unknownText = (m: string) => `Member ${m} is not a project known to the identity service.`;

let keystone: FakeKeystone;
let fetchSpy: MockInstance;
let consoleSpies: MockInstance[];

beforeEach(() => {
  keystone = new FakeKeystone(() => Date.now());
  fetchSpy = vi
    .spyOn(globalThis, "fetch")
    .mockImplementation((input, init) => keystone.fetch(String(input), init ?? {}));
  consoleSpies = (["info", "warn", "error"] as const).map((l) =>
    vi.spyOn(console, l).mockImplementation(() => {}),
  );
});

afterEach(() => {
  fetchSpy.mockRestore();
  for (const spy of consoleSpies) spy.mockRestore();
});

/** A token Keystone gives a member of `owner`. */
function tokenFor(owner: string, roles = ["member", "reader"]): string {
  const token = randomToken();
  keystone.tokens.set(token, {
    project: owner,
    user: `user-${owner}`,
    roles,
    expiresAt: Date.now() + 3_600_000,
  });
  return token;
}

/** POST …/members as the token's holder, VALIDATE_MEMBER_IDS on (and these vars over it). */
const add = (token: string, imageId: string, memberId: string, vars: Partial<Cloudflare.Env> = {}) =>
  call("POST", `/v2/images/${imageId}/members`, {
    body: { member_id: memberId },
    headers: { "X-Auth-Token": token },
    vars: { ...VALIDATING, ...vars },
  });

async function membersOf(imageId: string): Promise<string[]> {
  const { results } = await env.DB.prepare(
    "SELECT member_id FROM image_members WHERE image_id = ?1 ORDER BY member_id",
  )
    .bind(imageId)
    .all<{ member_id: string }>();
  return results.map((r) => r.member_id);
}

describe("VALIDATE_MEMBER_IDS=true, keystone mode", () => {
  it("a project Keystone knows is added (200), looked up with the service token", async () => {
    const owner = project("owner");
    const member = project("known");
    keystone.projects.add(member);
    const imageId = await createImage(owner);
    const res = await add(tokenFor(owner), imageId, member);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toMatchObject({ member_id: member, status: "pending" });
    expect(keystone.projectLookups).toHaveLength(1);
    const lookup = keystone.projectLookups[0];
    expect(lookup?.url).toBe(`${KEYSTONE_URL}/projects/${member}`);
    expect(keystone.serviceTokens.has(lookup?.headers.get("X-Auth-Token") ?? "")).toBe(true);
    expect(await membersOf(imageId)).toEqual([member]);
  });

  it("a project Keystone does not know is 400 with a message that says so, nothing written", async () => {
    const owner = project("owner");
    const imageId = await createImage(owner);
    const token = tokenFor(owner);
    const typo = project("typo");
    const before = await dump();
    await expectError(await add(token, imageId, typo), 400, unknownText(typo));
    expect(await dump()).toBe(before);
    expect(keystone.projectLookups).toHaveLength(1);
  });

  it("Keystone down (5xx, unreachable) is 503 with Retry-After, nothing written", async () => {
    const owner = project("owner");
    const member = project("known");
    keystone.projects.add(member);
    const imageId = await createImage(owner);
    const token = tokenFor(owner);
    const before = await dump();
    for (const outage of [
      () => new Response("busy", { status: 503 }),
      () => Promise.reject(new TypeError("fetch failed")),
      () => Response.json({ error: { code: 403 } }, { status: 403 }),
      () => Response.json({ version: {} }),
    ]) {
      keystone.override = (call) => (call.url.includes("/projects/") ? outage() : keystone.answer(call));
      const res = await add(token, imageId, member);
      expect(res.headers.get("Retry-After")).toBe("5");
      await expectError(res, 503, UNAVAILABLE);
    }
    expect(await dump()).toBe(before);
    // Nothing was cached from the outage: Keystone back, the add goes through.
    keystone.override = null;
    expect((await add(token, imageId, member)).status).toBe(200);
  });

  it("answers are cached: a second add of a known or unknown project costs no Keystone call", async () => {
    const owner = project("owner");
    const member = project("known");
    const typo = project("typo");
    keystone.projects.add(member);
    const [a, b] = [await createImage(owner), await createImage(owner)];
    const token = tokenFor(owner);
    expect((await add(token, a, member)).status).toBe(200);
    expect((await add(token, b, member)).status).toBe(200);
    await expectError(await add(token, a, typo), 400, unknownText(typo));
    await expectError(await add(token, b, typo), 400, unknownText(typo));
    expect(keystone.projectLookups).toHaveLength(2);
  });

  it("no lookup for a caller the rules refuse: Keystone is no oracle of project ids", async () => {
    const owner = project("owner");
    const member = project("member");
    const stranger = project("stranger");
    const imageId = await createImage(owner);
    await as(owner).post(`/v2/images/${imageId}/members`, { member_id: member });
    const publicImage = await createImage(owner, { visibility: "community" });
    // A stranger: 404; a member: 403; a reader of the owner: 403; a community image: 403.
    expect((await add(tokenFor(stranger), imageId, project("x"))).status).toBe(404);
    expect((await add(tokenFor(member), imageId, project("x"))).status).toBe(403);
    expect((await add(tokenFor(owner, ["reader"]), imageId, project("x"))).status).toBe(403);
    expect((await add(tokenFor(owner), publicImage, project("x"))).status).toBe(403);
    expect((await add(tokenFor(owner), "00000000-0000-4000-8000-000000000000", project("x"))).status).toBe(
      404,
    );
    expect(keystone.projectLookups).toHaveLength(0);
  });

  it("a body error answers before any lookup", async () => {
    const owner = project("owner");
    const imageId = await createImage(owner);
    expect((await add(tokenFor(owner), imageId, "")).status).toBe(400);
    expect(keystone.projectLookups).toHaveLength(0);
  });

  it("ids that are not a path segment are unknown without asking; others are sent encoded", async () => {
    const owner = project("owner");
    const imageId = await createImage(owner);
    const token = tokenFor(owner);
    await expectError(await add(token, imageId, ".."), 400, unknownText(".."));
    expect(keystone.projectLookups).toHaveLength(0);
    const odd = `a/b?c#${project()}`;
    await expectError(await add(token, imageId, odd), 400, unknownText(odd));
    expect(keystone.projectLookups[0]?.url).toBe(`${KEYSTONE_URL}/projects/${encodeURIComponent(odd)}`);
  });

  it("a rejected service token is replaced once and the lookup retried", async () => {
    const owner = project("owner");
    const member = project("known");
    keystone.projects.add(member);
    const imageId = await createImage(owner);
    const token = tokenFor(owner);
    expect((await add(token, imageId, project("warm"))).status).toBe(400);
    keystone.serviceTokens.clear();
    const logins = keystone.logins.length;
    expect((await add(token, imageId, member)).status).toBe(200);
    expect(keystone.logins.length).toBe(logins + 1);
  });

  it("without service credentials every add that would check is 503 (fail closed)", async () => {
    const owner = project("owner");
    const imageId = await createImage(owner);
    const before = await dump();
    const vars = { KEYSTONE_SERVICE_USER: "", KEYSTONE_SERVICE_PASSWORD: "", KEYSTONE_SERVICE_PROJECT: "" };
    const res = await add(tokenFor(owner), imageId, project("x"), vars);
    await expectError(res, 503, UNAVAILABLE);
    expect(await dump()).toBe(before);
    expect(keystone.projectLookups).toHaveLength(0);
  });

  it("a value other than true/false fails closed (503)", async () => {
    const owner = project("owner");
    const imageId = await createImage(owner);
    await expectError(
      await add(tokenFor(owner), imageId, project("x"), { VALIDATE_MEMBER_IDS: "yes" }),
      503,
      UNAVAILABLE,
    );
  });
});

describe("no lookup unless asked for", () => {
  it("flag off (keystone mode): an id Keystone does not know is added, no project lookup", async () => {
    const owner = project("owner");
    const imageId = await createImage(owner);
    const token = tokenFor(owner);
    for (const flag of ["false", ""]) {
      const member = project("unchecked");
      expect((await add(token, imageId, member, { VALIDATE_MEMBER_IDS: flag })).status).toBe(200);
    }
    expect(keystone.projectLookups).toHaveLength(0);
  });

  it("trusted-headers mode with the flag on: no Keystone call at all", async () => {
    const owner = project("owner");
    const imageId = await createImage(owner);
    const member = project("unchecked");
    const res = await as(owner, undefined, { ...SERVICE, KEYSTONE_URL, VALIDATE_MEMBER_IDS: "true" }).post(
      `/v2/images/${imageId}/members`,
      { member_id: member },
    );
    expect(res.status).toBe(200);
    expect(fetchSpy).not.toHaveBeenCalled();
  });
});

describe("projectKnown's cache lifetimes", () => {
  it("known projects for TOKEN_CACHE_TTL, unknown ones for 30 s; TTL 0 caches nothing", async () => {
    let clock = Date.parse("2026-06-01T00:00:00Z");
    const fake = new FakeKeystone(() => clock);
    const strategy = createKeystoneStrategy({ fetch: fake.fetch, now: () => clock, sharedCache: null });
    const cfg = { ...VALIDATING, TOKEN_CACHE_TTL: "120" };
    fake.projects.add("p-known");
    expect(await strategy.projectKnown(cfg, "p-known")).toBe(true);
    expect(await strategy.projectKnown(cfg, "p-new")).toBe(false);
    fake.projects.add("p-new");
    clock += 29_000;
    expect(await strategy.projectKnown(cfg, "p-new")).toBe(false);
    expect(fake.projectLookups).toHaveLength(2);
    clock += 2_000;
    expect(await strategy.projectKnown(cfg, "p-new")).toBe(true);
    expect(fake.projectLookups).toHaveLength(3);
    fake.projects.delete("p-known");
    clock += 88_000; // 119 s after the first lookup
    expect(await strategy.projectKnown(cfg, "p-known")).toBe(true);
    clock += 2_000;
    expect(await strategy.projectKnown(cfg, "p-known")).toBe(false);
    expect(fake.projectLookups).toHaveLength(4);
    const uncached = { ...cfg, TOKEN_CACHE_TTL: "0" };
    await strategy.projectKnown(uncached, "p-other");
    await strategy.projectKnown(uncached, "p-other");
    expect(fake.projectLookups).toHaveLength(6);
  });
});
