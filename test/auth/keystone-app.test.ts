import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from "vitest";
import { UNAUTHORIZED, UNAVAILABLE } from "../../src/http/errors";
import { call } from "../helpers";
import { FakeKeystone, KEYSTONE_URL, randomToken, WWW_AUTHENTICATE } from "./keystone-fake";

// The real app in keystone mode, with the strategy instance it registers (isolate-wide caches,
// caches.default, Date.now) and a fake Keystone behind globalThis.fetch. Every test uses fresh tokens.

const KEYSTONE: Partial<Cloudflare.Env> = {
  AUTH_STRATEGY: "keystone",
  KEYSTONE_URL,
  KEYSTONE_SERVICE_USER: "",
  KEYSTONE_SERVICE_PROJECT: "",
  TOKEN_CACHE_TTL: "300",
};

let keystone: FakeKeystone;
let fetchSpy: MockInstance;
let logs: string[];
let consoleSpies: MockInstance[];

beforeEach(() => {
  keystone = new FakeKeystone(() => Date.now());
  fetchSpy = vi
    .spyOn(globalThis, "fetch")
    .mockImplementation((input, init) => keystone.fetch(String(input), init ?? {}));
  logs = [];
  consoleSpies = (["log", "info", "warn", "error", "debug"] as const).map((level) =>
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
      logs.push(args.map(String).join(" "));
    }),
  );
});

afterEach(() => {
  fetchSpy.mockRestore();
  for (const spy of consoleSpies) spy.mockRestore();
});

function issue(t: { project?: string | null; system?: boolean; roles?: string[] } = {}): string {
  const token = randomToken();
  keystone.tokens.set(token, { expiresAt: Date.now() + 3_600_000, user: "user-k", ...t });
  return token;
}

const FORGED = {
  "X-Identity-Status": "Confirmed",
  "X-Project-Id": "forged-project",
  "X-Tenant-Id": "forged-project",
  "X-User-Id": "forged-user",
  "X-Roles": "admin",
};

describe("AUTH_STRATEGY=keystone through the app", () => {
  it("a valid token acts for its project: create an image, read it, list its members", async () => {
    const project = `p-${crypto.randomUUID()}`;
    const token = issue({ project });
    const created = await call("POST", "/v2/images", {
      body: { name: "ks" },
      headers: { "X-Auth-Token": token },
      vars: KEYSTONE,
    });
    expect(created.status).toBe(201);
    const image = (await created.json()) as { id: string; owner: string; visibility: string };
    expect(image).toMatchObject({ owner: project, visibility: "shared", name: "ks" });

    const read = await call("GET", `/v2/images/${image.id}`, {
      headers: { "X-Auth-Token": token },
      vars: KEYSTONE,
    });
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({ id: image.id, owner: project });
    const members = await call("GET", `/v2/images/${image.id}/members`, {
      headers: { "X-Auth-Token": token },
      vars: KEYSTONE,
    });
    expect(members.status).toBe(200);
    expect(await members.json()).toEqual({ members: [], schema: "/v2/schemas/members" });

    // One validation served all three requests.
    expect(keystone.calls).toHaveLength(1);
  });

  it("identity headers sent by the client are ignored", async () => {
    const project = `p-${crypto.randomUUID()}`;
    const token = issue({ project, roles: ["member"] });
    const created = await call("POST", "/v2/images", {
      body: {},
      headers: { "X-Auth-Token": token, ...FORGED },
      vars: KEYSTONE,
    });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({ owner: project });

    // X-Roles: admin did not make the caller an admin.
    const publicImage = await call("POST", "/v2/images", {
      body: { visibility: "public" },
      headers: { "X-Auth-Token": token, ...FORGED },
      vars: KEYSTONE,
    });
    expect(publicImage.status).toBe(403);
    expect(await publicImage.json()).toEqual({
      message: "You are not authorized to complete publicize_image action.",
      code: "403 Forbidden",
      title: "Forbidden",
    });

    // Without a token, headers alone identify nobody.
    const anonymous = await call("GET", "/v2/images", { headers: FORGED, vars: KEYSTONE });
    expect(anonymous.status).toBe(401);
  });

  it("the token's roles count, lower-cased: Admin is admin", async () => {
    const token = issue({ project: `p-${crypto.randomUUID()}`, roles: ["Admin"] });
    const created = await call("POST", "/v2/images", {
      body: { visibility: "public" },
      headers: { "X-Auth-Token": token },
      vars: KEYSTONE,
    });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({ visibility: "public" });
  });

  it("no token: 401 with WWW-Authenticate and docs/reference.md §2's body, JSON or plain text; Keystone not asked", async () => {
    const json = await call("GET", `/v2/images/${crypto.randomUUID()}/members`, { vars: KEYSTONE });
    expect(json.status).toBe(401);
    expect(json.headers.get("WWW-Authenticate")).toBe(WWW_AUTHENTICATE);
    expect(json.headers.get("x-openstack-request-id")).toMatch(/^req-/);
    expect(await json.json()).toEqual({
      message: UNAUTHORIZED,
      code: "401 Unauthorized",
      title: "Unauthorized",
    });

    const text = await call("GET", "/v2/images", { headers: { Accept: "*/*" }, vars: KEYSTONE });
    expect(text.status).toBe(401);
    expect(text.headers.get("WWW-Authenticate")).toBe(WWW_AUTHENTICATE);
    expect(text.headers.get("Content-Type")).toBe("text/plain; charset=UTF-8");
    expect(await text.text()).toBe(`401 Unauthorized\n\n${UNAUTHORIZED}\n`);
    expect(keystone.calls).toHaveLength(0);
  });

  it("a token Keystone refuses: 401 with WWW-Authenticate", async () => {
    const res = await call("GET", `/v2/images/${crypto.randomUUID()}`, {
      headers: { "X-Auth-Token": randomToken() },
      vars: KEYSTONE,
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("WWW-Authenticate")).toBe(WWW_AUTHENTICATE);
    expect(await res.json()).toEqual({
      message: UNAUTHORIZED,
      code: "401 Unauthorized",
      title: "Unauthorized",
    });
  });

  it("a token scoped to no project: 401 on member routes (docs/reference.md §1), also a system-scoped one", async () => {
    const unscoped = await call("GET", `/v2/images/${crypto.randomUUID()}/members`, {
      headers: { "X-Auth-Token": issue({ project: null }) },
      vars: KEYSTONE,
    });
    expect(unscoped.status).toBe(401);
    expect(unscoped.headers.get("WWW-Authenticate")).toBe(WWW_AUTHENTICATE);
    const system = await call("GET", `/v2/images/${crypto.randomUUID()}/members`, {
      headers: { "X-Auth-Token": issue({ project: null, system: true }) },
      vars: KEYSTONE,
    });
    expect(system.status).toBe(401);
  });

  it("a system-scoped admin on image routes: refused by scope (enforce_scope), as Glance answers it", async () => {
    const token = issue({ project: null, system: true });
    const list = await call("GET", "/v2/images", { headers: { "X-Auth-Token": token }, vars: KEYSTONE });
    expect(list.status).toBe(403);
    expect(await list.json()).toMatchObject({
      message: "You are not authorized to complete get_images action.",
    });
    const unscoped = await call("GET", "/v2/images", {
      headers: { "X-Auth-Token": issue({ project: null }) },
      vars: KEYSTONE,
    });
    expect(unscoped.status).toBe(401);
  });

  it("Keystone failing: 503 with Retry-After and docs/reference.md §2's body, logged with the request id", async () => {
    keystone.override = () => new Response("oops", { status: 500 });
    const res = await call("GET", "/v2/images", {
      headers: { "X-Auth-Token": randomToken(), ...{ "X-Openstack-Request-Id": "req-keystone-down-1" } },
      vars: KEYSTONE,
    });
    expect(res.status).toBe(503);
    expect(res.headers.get("Retry-After")).toBe("5");
    expect(await res.json()).toEqual({
      message: UNAVAILABLE,
      code: "503 Service Unavailable",
      title: "Service Unavailable",
    });
    expect(logs.some((l) => l.includes('"request_id":"req-keystone-down-1"') && l.includes("500"))).toBe(
      true,
    );
  });

  it("KEYSTONE_URL unset: every /v2 request is 503 (fail closed), discovery still answers", async () => {
    const res = await call("GET", "/v2/images", {
      headers: { "X-Auth-Token": issue() },
      vars: { ...KEYSTONE, KEYSTONE_URL: "" },
    });
    expect(res.status).toBe(503);
    expect(res.headers.get("Retry-After")).toBe("30");
    expect(logs.some((l) => l.includes("KEYSTONE_URL is not set"))).toBe(true);
    expect((await call("GET", "/versions", { vars: { ...KEYSTONE, KEYSTONE_URL: "" } })).status).toBe(200);
    expect(keystone.calls).toHaveLength(0);
  });

  it("a cached token costs no Keystone call on later requests", async () => {
    const token = issue({ project: `p-${crypto.randomUUID()}` });
    for (let i = 0; i < 5; i++) {
      expect(
        (
          await call("GET", `/v2/images/${crypto.randomUUID()}`, {
            headers: { "X-Auth-Token": token },
            vars: KEYSTONE,
          })
        ).status,
      ).toBe(404);
    }
    expect(keystone.calls).toHaveLength(1);
  });

  it("never writes the token to the console", async () => {
    const tokens = [issue(), randomToken(), issue({ project: null })];
    keystone.tokens.set(tokens[0] as string, { expiresAt: Date.now() - 1 });
    for (const token of tokens)
      await call("GET", "/v2/images", { headers: { "X-Auth-Token": token }, vars: KEYSTONE });
    keystone.override = () => Promise.reject(new TypeError("down"));
    const last = randomToken();
    tokens.push(last);
    await call("GET", "/v2/images", { headers: { "X-Auth-Token": last }, vars: KEYSTONE });
    expect(logs.length).toBeGreaterThan(0);
    for (const token of tokens) expect(logs.filter((l) => l.includes(token))).toEqual([]);
  });
});
