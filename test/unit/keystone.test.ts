import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from "vitest";
import { createKeystoneStrategy, type KeystoneDeps } from "../../src/auth/keystone";
import { sha256Hex } from "../../src/auth/token-cache";
import { UNAUTHORIZED, UNAVAILABLE } from "../../src/http/errors";
import {
  type Call,
  FakeKeystone,
  KEYSTONE_URL,
  randomToken,
  SERVICE,
  WWW_AUTHENTICATE,
} from "../auth/keystone-fake";

const START = Date.parse("2026-03-01T12:00:00Z");
const HOUR = 3_600_000;

let clock = START;
let keystone: FakeKeystone;
let logs: string[];
let consoleSpies: MockInstance[];
let pending: Promise<unknown>[];
const ctx = { waitUntil: (p: Promise<unknown>) => void pending.push(p) };

beforeEach(() => {
  clock = START;
  keystone = new FakeKeystone(() => clock);
  pending = [];
  logs = [];
  consoleSpies = (["log", "info", "warn", "error", "debug"] as const).map((level) =>
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
      logs.push(args.map(String).join(" "));
    }),
  );
});

afterEach(() => {
  for (const spy of consoleSpies) spy.mockRestore();
});

function strategy(deps: KeystoneDeps = {}) {
  return createKeystoneStrategy({ fetch: keystone.fetch, now: () => clock, sharedCache: null, ...deps });
}

function vars(extra: Partial<Cloudflare.Env> = {}): Cloudflare.Env {
  return {
    ...env,
    AUTH_STRATEGY: "keystone",
    KEYSTONE_URL,
    TOKEN_CACHE_TTL: "300",
    KEYSTONE_SERVICE_USER: "",
    KEYSTONE_SERVICE_PROJECT: "",
    KEYSTONE_SERVICE_PASSWORD: "",
    ...extra,
  };
}

function request(token?: string, headers: Record<string, string> = {}): Request {
  return new Request("http://glance.test/v2/images", {
    headers: token === undefined ? headers : { ...headers, "X-Auth-Token": token },
  });
}

/** A token Keystone knows, valid for an hour unless said otherwise. */
function issue(
  t: { project?: string | null; system?: boolean; user?: string; roles?: string[]; expiresAt?: number } = {},
) {
  const token = randomToken();
  keystone.tokens.set(token, { expiresAt: clock + HOUR, ...t });
  return token;
}

const identify = (s: ReturnType<typeof strategy>, token?: string, e = vars()) =>
  s.identify(request(token), e, ctx, "req-test");

async function expect401(promise: Promise<unknown>) {
  await expect(promise).rejects.toMatchObject({
    status: 401,
    explanation: UNAUTHORIZED,
    headers: { "WWW-Authenticate": WWW_AUTHENTICATE },
  });
}

async function expect503(promise: Promise<unknown>, retryAfter = "5") {
  await expect(promise).rejects.toMatchObject({
    status: 503,
    explanation: UNAVAILABLE,
    headers: { "Retry-After": retryAfter },
  });
}

describe("keystone strategy: the caller", () => {
  it("is the token's project, user and lower-cased roles; admin is a role", async () => {
    const s = strategy();
    const member = issue({ project: "p-1", user: "u-1", roles: ["Member", "READER"] });
    const admin = issue({ project: "p-2", user: "u-2", roles: ["Admin"] });
    expect(await identify(s, member)).toEqual({
      projectId: "p-1",
      userId: "u-1",
      roles: ["member", "reader"],
      isAdmin: false,
      // docs/reference.md §11's project_domain_id and user_domain_id credentials.
      projectDomainId: "default",
      userDomainId: "default",
      scope: "project",
    });
    expect(await identify(s, admin)).toMatchObject({ projectId: "p-2", isAdmin: true });
  });

  it("without service credentials, the user's token validates itself, without the catalog", async () => {
    const token = issue();
    await identify(strategy(), token);
    expect(keystone.calls).toHaveLength(1);
    const [call] = keystone.calls as [Call];
    expect(call.method).toBe("GET");
    expect(call.url).toBe(`${KEYSTONE_URL}/auth/tokens?nocatalog`);
    expect(call.headers.get("X-Auth-Token")).toBe(token);
    expect(call.headers.get("X-Subject-Token")).toBe(token);
  });

  it("ignores identity headers sent by the client", async () => {
    const token = issue({ project: "p-real", user: "u-real", roles: ["member"] });
    const forged = {
      "X-Identity-Status": "Confirmed",
      "X-Project-Id": "p-forged",
      "X-Tenant-Id": "p-forged",
      "X-User-Id": "u-forged",
      "X-Roles": "admin",
      "X-Service-Roles": "admin",
    };
    const caller = await strategy().identify(request(token, forged), vars(), ctx, "req-test");
    expect(caller).toEqual({
      projectId: "p-real",
      userId: "u-real",
      roles: ["member"],
      isAdmin: false,
      projectDomainId: "default",
      userDomainId: "default",
      scope: "project",
    });
    await expect401(strategy().identify(request(undefined, forged), vars(), ctx, "req-test"));
  });
});

describe("keystone strategy: 401", () => {
  it("missing or blank X-Auth-Token: 401 with WWW-Authenticate, Keystone not asked", async () => {
    await expect401(identify(strategy()));
    await expect401(identify(strategy(), "   "));
    await expect401(identify(strategy(), "x".repeat(8193)));
    expect(keystone.calls).toHaveLength(0);
  });

  it("a token Keystone does not know: 401 (404 with a service token, 401 when self-validating)", async () => {
    await expect401(identify(strategy(), randomToken()));
    const s = strategy();
    await expect401(identify(s, randomToken(), vars(SERVICE)));
    expect(keystone.validations.map((c) => c.headers.get("X-Auth-Token"))).toEqual([
      expect.stringMatching(/^gAAAAA/),
      "service-token-1",
    ]);
  });

  it("an expired token (expires_at in the past): 401", async () => {
    await expect401(identify(strategy(), issue({ expiresAt: clock - 1000 })));
    await expect401(identify(strategy(), issue({ expiresAt: clock })));
  });

  it("an unscoped token: 401; a system-scoped one is a caller without a project", async () => {
    await expect401(identify(strategy(), issue({ project: null })));
    expect(await identify(strategy(), issue({ project: null, system: true }))).toMatchObject({
      projectId: null,
      scope: "system",
      roles: ["admin", "member", "reader"],
    });
  });

  it("WWW-Authenticate names the Keystone root, wherever KEYSTONE_URL points", async () => {
    const cases = [
      ["http://keystone.test/v3", "http://keystone.test"],
      ["http://keystone.test:5000/v3/", "http://keystone.test:5000"],
      ["https://cloud.test/identity/v3", "https://cloud.test/identity"],
      ["https://cloud.test/identity", "https://cloud.test/identity"],
    ];
    for (const [url, root] of cases) {
      await expect(identify(strategy(), undefined, vars({ KEYSTONE_URL: url }))).rejects.toMatchObject({
        status: 401,
        headers: { "WWW-Authenticate": `Keystone uri="${root}"` },
      });
    }
  });

  it("KEYSTONE_URL given as the root or the v3 API: tokens are validated at {root}/v3", async () => {
    keystone.override = () => new Response(null, { status: 404 });
    for (const url of ["https://cloud.test/identity", "https://cloud.test/identity/v3/"]) {
      await expect(identify(strategy(), randomToken(), vars({ KEYSTONE_URL: url }))).rejects.toMatchObject({
        status: 401,
        headers: { "WWW-Authenticate": 'Keystone uri="https://cloud.test/identity"' },
      });
    }
    expect(keystone.calls.map((c) => c.url)).toEqual([
      "https://cloud.test/identity/v3/auth/tokens?nocatalog",
      "https://cloud.test/identity/v3/auth/tokens?nocatalog",
    ]);
  });
});

describe("keystone strategy: 503, never a guess", () => {
  const outages: [string, (call: Call) => Response | Promise<Response>][] = [
    ["500", () => new Response("boom", { status: 500 })],
    ["502", () => new Response("bad gateway", { status: 502 })],
    ["403 (service user not allowed to validate)", () => new Response(null, { status: 403 })],
    ["unreachable", () => Promise.reject(new TypeError("Network connection lost."))],
    ["a body that is not JSON", () => new Response("<html>oops</html>", { status: 200 })],
    ["JSON without a token", () => Response.json({ error: "nope" })],
    ["a token without a user", () => Response.json({ token: { expires_at: "2030-01-01T00:00:00Z" } })],
    ["an unreadable expires_at", () => Response.json({ token: { expires_at: "soon", user: { id: "u" } } })],
  ];
  for (const [what, answer] of outages) {
    it(`Keystone answering ${what}: 503 with Retry-After, logged`, async () => {
      keystone.override = answer;
      await expect503(identify(strategy(), randomToken()));
      expect(logs.some((l) => l.includes('"level":"error"') && l.includes("req-test"))).toBe(true);
    });
  }

  it("Keystone not answering in time: 503 once the timeout fires", async () => {
    keystone.override = ({ signal }) =>
      new Promise<Response>((_, reject) => {
        signal?.addEventListener("abort", () => reject(signal.reason));
      });
    await expect503(identify(strategy({ timeoutMs: 20 }), randomToken()));
    expect(logs.some((l) => l.includes("timed out"))).toBe(true);
  });

  it("a 503 is not cached: Keystone is asked again next time", async () => {
    const token = issue();
    keystone.override = () => new Response(null, { status: 500 });
    const s = strategy();
    await expect503(identify(s, token));
    keystone.override = null;
    expect(await identify(s, token)).toMatchObject({ projectId: "project-1" });
    expect(keystone.calls).toHaveLength(2);
  });

  it("misconfiguration fails closed with 503, logged", async () => {
    const bad: Partial<Cloudflare.Env>[] = [
      { KEYSTONE_URL: "" },
      { KEYSTONE_URL: "keystone.test/v3" },
      { KEYSTONE_URL: "ftp://keystone.test/v3" },
      { TOKEN_CACHE_TTL: "five minutes" },
      { TOKEN_CACHE_TTL: "-1" },
      { KEYSTONE_SERVICE_USER: "glance" },
      { KEYSTONE_SERVICE_USER: "glance", KEYSTONE_SERVICE_PROJECT: "service" },
    ];
    for (const extra of bad) {
      logs.length = 0;
      await expect503(identify(strategy(), issue(), vars(extra)), "30");
      expect(logs.some((l) => l.includes('"level":"error"'))).toBe(true);
    }
    expect(keystone.calls).toHaveLength(0);
  });
});

describe("keystone strategy: cache", () => {
  it("a cached token costs no Keystone call, up to TOKEN_CACHE_TTL", async () => {
    const s = strategy();
    const token = issue();
    await identify(s, token);
    clock += 299_000;
    for (let i = 0; i < 5; i++) expect(await identify(s, token)).toMatchObject({ projectId: "project-1" });
    expect(keystone.calls).toHaveLength(1);
    clock += 1_000;
    await identify(s, token);
    expect(keystone.calls).toHaveLength(2);
  });

  it("TOKEN_CACHE_TTL is configurable; 0 turns caching off", async () => {
    const s = strategy();
    const token = issue();
    await identify(s, token, vars({ TOKEN_CACHE_TTL: "10" }));
    clock += 9_999;
    await identify(s, token, vars({ TOKEN_CACHE_TTL: "10" }));
    expect(keystone.calls).toHaveLength(1);
    clock += 1;
    await identify(s, token, vars({ TOKEN_CACHE_TTL: "10" }));
    expect(keystone.calls).toHaveLength(2);

    const uncached = strategy();
    const other = issue();
    await identify(uncached, other, vars({ TOKEN_CACHE_TTL: "0" }));
    await identify(uncached, other, vars({ TOKEN_CACHE_TTL: "0" }));
    expect(keystone.calls).toHaveLength(4);
  });

  it("a cached token is not trusted past its expires_at, even within the TTL", async () => {
    const s = strategy();
    const token = issue({ expiresAt: clock + 60_000 });
    await identify(s, token);
    clock += 59_999;
    await identify(s, token);
    expect(keystone.calls).toHaveLength(1);
    clock += 1;
    keystone.tokens.delete(token); // Keystone forgets expired tokens: 404
    await expect401(identify(s, token));
    expect(keystone.calls).toHaveLength(2);
  });

  it("a refused token is remembered for 30 s in the isolate, then asked again", async () => {
    const s = strategy();
    const token = randomToken();
    await expect401(identify(s, token));
    clock += 29_999;
    await expect401(identify(s, token));
    expect(keystone.calls).toHaveLength(1);
    clock += 1;
    keystone.tokens.set(token, { expiresAt: clock + HOUR });
    expect(await identify(s, token)).toMatchObject({ projectId: "project-1" });
    expect(keystone.calls).toHaveLength(2);
  });

  it("the isolate cache is bounded (least recently used evicted)", async () => {
    const s = strategy({ lruSize: 2 });
    const [a, b, c] = [issue(), issue(), issue()];
    await identify(s, a);
    await identify(s, b);
    await identify(s, c); // evicts a
    await identify(s, b);
    await identify(s, c);
    expect(keystone.calls).toHaveLength(3);
    await identify(s, a);
    expect(keystone.calls).toHaveLength(4);
  });

  it("concurrent first requests with one token share one validation", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    keystone.override = async (call) => {
      await gate;
      return keystone.answer(call);
    };
    const s = strategy();
    const token = issue({ project: "p-c" });
    const callers = Promise.all(Array.from({ length: 10 }, () => identify(s, token)));
    await new Promise((resolve) => setTimeout(resolve, 20));
    release();
    const results = await callers;
    expect(keystone.calls).toHaveLength(1);
    expect(results.every((c) => c.projectId === "p-c")).toBe(true);
  });

  it("concurrent first requests with a token Keystone refuses share one validation, all 401", async () => {
    const s = strategy();
    const token = randomToken();
    const settled = await Promise.allSettled(Array.from({ length: 5 }, () => identify(s, token)));
    expect(settled.map((r) => r.status === "rejected" && (r.reason as { status: number }).status)).toEqual([
      401, 401, 401, 401, 401,
    ]);
    expect(keystone.calls).toHaveLength(1);
  });

  it("a joiner does not hang on a validation that never settles (a cancelled request's)", async () => {
    const token = issue();
    let first = true;
    keystone.override = (call) => {
      if (first) {
        first = false;
        return new Promise<Response>(() => {}); // never settles, ignores the abort signal
      }
      return keystone.answer(call);
    };
    const s = strategy({ timeoutMs: 20 });
    void identify(s, token).catch(() => {});
    expect(await identify(s, token)).toMatchObject({ projectId: "project-1" });
    expect(keystone.calls).toHaveLength(2);
  });

  it("across isolates through the Cache API, keyed by the token's SHA-256, body without the token", async () => {
    const store = new Map<string, Response>();
    const shared = {
      match: async (key: RequestInfo | URL) => store.get(String(key))?.clone(),
      put: async (key: RequestInfo | URL, res: Response) => void store.set(String(key), res),
    } as unknown as Pick<Cache, "match" | "put">;
    const token = issue({ project: "p-x", roles: ["Member"] });
    await identify(strategy({ sharedCache: shared }), token);
    await Promise.all(pending);
    expect([...store.keys()]).toEqual([
      `http://glance.test/__glance-edge/keystone-token/v2/${await sha256Hex(token)}`,
    ]);
    const [entry] = [...store.values()] as [Response];
    expect(entry.headers.get("Cache-Control")).toBe("max-age=300");
    expect(await entry.clone().text()).not.toContain(token);

    const otherIsolate = strategy({ sharedCache: shared });
    expect(await identify(otherIsolate, token)).toEqual({
      projectId: "p-x",
      userId: "user-1",
      roles: ["member"],
      isAdmin: false,
      projectDomainId: "default",
      userDomainId: "default",
      scope: "project",
    });
    expect(keystone.calls).toHaveLength(1);

    clock += 300_000; // the entry carries its own deadline, checked against the clock
    await identify(strategy({ sharedCache: shared }), token);
    expect(keystone.calls).toHaveLength(2);
  });

  it("works with the real caches.default; refused tokens are never written there", async () => {
    const token = issue({ project: "p-default" });
    await identify(strategy({ sharedCache: caches.default }), token);
    await Promise.all(pending);
    expect(await identify(strategy({ sharedCache: caches.default }), token)).toMatchObject({
      projectId: "p-default",
    });
    expect(keystone.calls).toHaveLength(1);

    const refused = randomToken();
    await expect401(identify(strategy({ sharedCache: caches.default }), refused));
    await Promise.all(pending);
    const key = `http://glance.test/__glance-edge/keystone-token/v1/${await sha256Hex(refused)}`;
    expect(await caches.default.match(key)).toBeUndefined();
  });

  it("a broken or garbage shared cache entry is a miss, not a failure", async () => {
    const token = issue();
    const shared = {
      match: async () => new Response("not json"),
      put: async () => {
        throw new Error("cache down");
      },
    } as unknown as Pick<Cache, "match" | "put">;
    expect(await identify(strategy({ sharedCache: shared }), token)).toMatchObject({
      projectId: "project-1",
    });
    await Promise.all(pending);
    expect(keystone.calls).toHaveLength(1);
  });
});

describe("keystone strategy: service credentials", () => {
  it("one service token, password method, project-scoped, domains default 'Default', reused", async () => {
    const s = strategy();
    const tokens = [issue(), issue(), issue()];
    for (const token of tokens) await identify(s, token, vars(SERVICE));
    expect(keystone.logins).toHaveLength(1);
    const [login] = keystone.logins as [Call];
    expect(login.url).toBe(`${KEYSTONE_URL}/auth/tokens?nocatalog`);
    expect(login.body).toEqual({
      auth: {
        identity: {
          methods: ["password"],
          password: {
            user: { name: "glance", domain: { name: "Default" }, password: "service-secret-password" },
          },
        },
        scope: { project: { name: "service", domain: { name: "Default" } } },
      },
    });
    expect(
      keystone.validations.map((c) => [c.headers.get("X-Auth-Token"), c.headers.get("X-Subject-Token")]),
    ).toEqual(tokens.map((t) => ["service-token-1", t]));
  });

  it("honours the configured domains", async () => {
    await identify(
      strategy(),
      issue(),
      vars({ ...SERVICE, KEYSTONE_SERVICE_USER_DOMAIN: "ops", KEYSTONE_SERVICE_PROJECT_DOMAIN: "infra" }),
    );
    expect(keystone.logins[0]?.body).toMatchObject({
      auth: {
        identity: { password: { user: { domain: { name: "ops" } } } },
        scope: { project: { domain: { name: "infra" } } },
      },
    });
  });

  it("concurrent first requests with different tokens log in once", async () => {
    const s = strategy();
    await Promise.all([issue(), issue(), issue(), issue()].map((t) => identify(s, t, vars(SERVICE))));
    expect(keystone.logins).toHaveLength(1);
    expect(keystone.validations).toHaveLength(4);
  });

  it("is refreshed shortly before its expires_at", async () => {
    const s = strategy();
    await identify(s, issue(), vars(SERVICE));
    clock += HOUR - 121_000;
    await identify(s, issue(), vars(SERVICE));
    expect(keystone.logins).toHaveLength(1);
    clock += 2_000; // within two minutes of expiry
    await identify(s, issue(), vars(SERVICE));
    expect(keystone.logins).toHaveLength(2);
    expect(keystone.validations.at(-1)?.headers.get("X-Auth-Token")).toBe("service-token-2");
  });

  it("is refreshed when Keystone answers 401 for it, and the validation retried once", async () => {
    const s = strategy();
    await identify(s, issue(), vars(SERVICE));
    keystone.serviceTokens.delete("service-token-1"); // revoked behind our back
    expect(await identify(s, issue({ project: "p-r" }), vars(SERVICE))).toMatchObject({ projectId: "p-r" });
    expect(keystone.logins).toHaveLength(2);
    expect(keystone.validations.map((c) => c.headers.get("X-Auth-Token"))).toEqual([
      "service-token-1",
      "service-token-1",
      "service-token-2",
    ]);
  });

  it("a fresh service token refused too: 503, logged, not a 401 for the user", async () => {
    keystone.override = (call) =>
      call.method === "POST" ? keystone.answer(call) : new Response(null, { status: 401 });
    await expect503(identify(strategy(), issue(), vars(SERVICE)));
    expect(keystone.logins).toHaveLength(2);
    expect(keystone.validations).toHaveLength(2);
    expect(logs.some((l) => l.includes("401 twice"))).toBe(true);
  });

  it("service credentials Keystone refuses, or a login answer without a token: 503, logged", async () => {
    keystone.override = () => new Response(null, { status: 401 });
    await expect503(identify(strategy(), issue(), vars(SERVICE)));
    expect(logs.some((l) => l.includes("rejected the service credentials"))).toBe(true);
    keystone.override = () =>
      Response.json({ token: { expires_at: "2030-01-01T00:00:00Z", user: { id: "g" } } });
    await expect503(identify(strategy(), issue(), vars(SERVICE)));
    expect(keystone.validations).toHaveLength(0);
  });
});

describe("keystone strategy: secrets stay out of logs", () => {
  it("no token and no service password in any console output, whatever happens", async () => {
    const tokens: string[] = [];
    const run = async (setup: () => void, token: string, e = vars()) => {
      tokens.push(token);
      setup();
      await identify(strategy({ timeoutMs: 20 }), token, e).catch(() => {});
    };
    const echo = (call: Call) =>
      new Response(`bad ${call.headers.get("X-Subject-Token")} ${call.headers.get("X-Auth-Token")}`, {
        status: 500,
      });
    await run(() => (keystone.override = null), issue());
    await run(() => (keystone.override = null), randomToken());
    await run(() => (keystone.override = null), issue({ expiresAt: clock - 1 }));
    await run(() => (keystone.override = null), issue({ project: null }));
    await run(() => (keystone.override = echo), randomToken());
    await run(
      () =>
        (keystone.override = (c) =>
          Promise.reject(new TypeError(`down ${c.headers.get("X-Subject-Token")}`))),
      randomToken(),
    );
    await run(() => (keystone.override = () => new Response("{", { status: 200 })), randomToken());
    await run(() => (keystone.override = echo), randomToken(), vars(SERVICE));
    await run(() => (keystone.override = null), randomToken(), vars({ ...SERVICE, KEYSTONE_URL: "" }));
    expect(logs).toHaveLength(8); // one line for each refusal or failure
    for (const secret of [...tokens, SERVICE.KEYSTONE_SERVICE_PASSWORD, "service-token-1"]) {
      expect(logs.filter((l) => l.includes(secret))).toEqual([]);
    }
  });
});
