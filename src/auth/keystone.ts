import { z } from "zod";
import { ApiError, UNAUTHORIZED, unavailable } from "../http/errors";
import { log } from "../log";
import { type Caller, makeCaller, type Scope } from "./caller";
import type { IdentityStrategy } from "./strategy";
import { ExpiringLru, InFlight, sha256Hex } from "./token-cache";

declare global {
  namespace Cloudflare {
    interface Env {
      /**
       * A secret (`wrangler secret put KEYSTONE_SERVICE_PASSWORD`, or .dev.vars locally), so not in
       * wrangler.toml; typed as `wrangler types` types secrets, but absent unless set.
       */
      KEYSTONE_SERVICE_PASSWORD: string;
    }
  }
}

/** What the strategy needs from the outside world; tests replace any of it. */
export interface KeystoneDeps {
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
  /** Milliseconds since the epoch. */
  now?: () => number;
  /** The cache shared across isolates; defaults to `caches.default`, `null` turns it off. */
  sharedCache?: Pick<Cache, "match" | "put"> | null;
  /** Budget for one whole validation, service token included (default 10 s). */
  timeoutMs?: number;
  /** Validated tokens kept per isolate (default 10,000). */
  lruSize?: number;
}

interface ServiceCredentials {
  user: string;
  password: string;
  project: string;
  userDomain: string;
  projectDomain: string;
}

interface KeystoneConfig {
  /** The v3 API, e.g. http://127.0.0.1:5000/v3. */
  api: string;
  /** What clients are sent to in WWW-Authenticate: the API without its version. */
  root: string;
  service: ServiceCredentials | null;
  ttlMs: number;
}

/** A validated token, as cached: what a Caller is made of, never the token itself. */
interface Identity {
  projectId: string | null;
  userId: string;
  roles: string[];
  projectDomainId: string | null;
  userDomainId: string | null;
  scope: Scope | "none";
}

type Outcome = { valid: true; identity: Identity; until: number } | { valid: false; reason: string };

/** Keystone could not give an answer; the caller gets 503. `detail` never holds a token. */
class KeystoneUnavailable extends Error {
  constructor(readonly detail: string) {
    super(detail);
    this.name = "KeystoneUnavailable";
  }
}

const DEFAULT_TTL_SECONDS = 300;
// Keystone on a busy host can take seconds per validation; keystonemiddleware waits indefinitely.
const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_LRU_SIZE = 10_000;
/** Rejected tokens are remembered briefly, per isolate only (see negativeUntil). */
const NEGATIVE_TTL_MS = 30_000;
const NEGATIVE_LRU_SIZE = 1_000;
/** Like keystoneauth, a service token counts as expired this long before its expires_at. */
const SERVICE_TOKEN_MARGIN_MS = 120_000;
/** Far longer than any Keystone token (Fernet ≈ 200 characters, JWS ≈ 800): not worth a round trip. */
const MAX_TOKEN_LENGTH = 8192;
const CACHE_PATH = "/__glance-edge/keystone-token/v2/";

const tokenBody = z.object({
  token: z.object({
    expires_at: z.string(),
    user: z.object({ id: z.string().min(1), domain: z.object({ id: z.string() }).optional() }),
    project: z.object({ id: z.string().min(1), domain: z.object({ id: z.string() }).optional() }).optional(),
    // System- and domain-scoped tokens (no project): authenticated, refused by scope (docs/reference.md §11).
    system: z.object({ all: z.boolean().optional() }).optional(),
    domain: z.object({ id: z.string().min(1) }).optional(),
    roles: z.array(z.object({ name: z.string() })).optional(),
  }),
});

/** GET /v3/projects/{id}: only what tells the project apart from anything else Keystone could answer. */
const projectBody = z.object({
  project: z.object({ id: z.string(), is_domain: z.boolean().optional() }),
});

const cachedEntry = z.object({
  projectId: z.string().nullable(),
  userId: z.string(),
  roles: z.array(z.string()),
  projectDomainId: z.string().nullable(),
  userDomainId: z.string().nullable(),
  scope: z.enum(["project", "system", "domain", "none"]),
  until: z.number(),
});

/** How long a client waits after Keystone could not answer; a misconfiguration gets the default. */
const KEYSTONE_RETRY_AFTER_SECONDS = 5;

/** KEYSTONE_URL may name the v3 API or the server root; both lead to the same two URLs. */
function endpoints(raw: string): { api: string; root: string } | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  const path = url.pathname.replace(/\/+$/, "");
  const rootPath = path.replace(/\/v3$/, "");
  return { api: `${url.origin}${rootPath}/v3`, root: `${url.origin}${rootPath}` };
}

/** Read per request, so a misconfiguration answers 503 (fail closed) instead of guessing. */
function configFor(env: Cloudflare.Env, requestId: string | undefined): KeystoneConfig {
  const misconfigured = (msg: string) => {
    log.error(`${msg}; refusing every /v2 request`, { request_id: requestId });
    return unavailable();
  };
  const raw = (env.KEYSTONE_URL ?? "").trim();
  if (raw === "") throw misconfigured("AUTH_STRATEGY=keystone but KEYSTONE_URL is not set");
  const urls = endpoints(raw);
  if (!urls) throw misconfigured(`KEYSTONE_URL ${JSON.stringify(raw)} is not an http(s) URL`);

  const ttlRaw = (env.TOKEN_CACHE_TTL ?? "").trim();
  if (ttlRaw !== "" && !/^\d+$/.test(ttlRaw)) {
    throw misconfigured(`TOKEN_CACHE_TTL ${JSON.stringify(ttlRaw)} is not a number of seconds`);
  }
  const ttlMs = (ttlRaw === "" ? DEFAULT_TTL_SECONDS : Number.parseInt(ttlRaw, 10)) * 1000;

  const user = (env.KEYSTONE_SERVICE_USER ?? "").trim();
  const password = env.KEYSTONE_SERVICE_PASSWORD ?? "";
  const project = (env.KEYSTONE_SERVICE_PROJECT ?? "").trim();
  if (user === "" && password === "" && project === "") return { ...urls, service: null, ttlMs };
  if (user === "" || password === "" || project === "") {
    // Half-configured service credentials are a mistake, not a wish for self-validation.
    throw misconfigured(
      "KEYSTONE_SERVICE_USER, KEYSTONE_SERVICE_PASSWORD and KEYSTONE_SERVICE_PROJECT must be set together",
    );
  }
  return {
    ...urls,
    ttlMs,
    service: {
      user,
      password,
      project,
      userDomain: (env.KEYSTONE_SERVICE_USER_DOMAIN ?? "").trim() || "Default",
      projectDomain: (env.KEYSTONE_SERVICE_PROJECT_DOMAIN ?? "").trim() || "Default",
    },
  };
}

/** The Keystone strategy, and what else the service user asks Keystone on the Worker's behalf. */
export interface KeystoneStrategy extends IdentityStrategy {
  /**
   * Whether Keystone knows this project (GET /v3/projects/{id} with the service token): known
   * answers are cached per isolate for TOKEN_CACHE_TTL, unknown ones for at most 30 s. Throws a
   * 503 ApiError when Keystone cannot answer or no service user is configured (fail closed).
   */
  projectKnown(env: Cloudflare.Env, projectId: string, requestId?: string): Promise<boolean>;
}

/**
 * The Keystone strategy (docs/reference.md §1): X-Auth-Token validated with GET /v3/auth/tokens, as
 * keystonemiddleware does, with validations cached per isolate (LRU) and across isolates (Cache API).
 * Identity headers sent by clients are never read here.
 */
export function createKeystoneStrategy(deps: KeystoneDeps = {}): KeystoneStrategy {
  // Looked up at call time, so a test's stub of globalThis.fetch is seen.
  const doFetch = deps.fetch ?? ((input: string, init: RequestInit) => fetch(input, init));
  const now = deps.now ?? (() => Date.now());
  const timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const sharedCache = () => (deps.sharedCache === undefined ? caches.default : deps.sharedCache);

  const positives = new ExpiringLru<Identity>(deps.lruSize ?? DEFAULT_LRU_SIZE);
  // Separate and smaller, so a flood of garbage tokens cannot evict the valid ones.
  const negatives = new ExpiringLru<string>(NEGATIVE_LRU_SIZE);
  const validations = new InFlight<Outcome>(2 * timeoutMs);
  const serviceTokens = new InFlight<string>(2 * timeoutMs);
  let serviceToken: { config: string; token: string; refreshAt: number } | null = null;
  const knownProjects = new ExpiringLru<true>(deps.lruSize ?? DEFAULT_LRU_SIZE);
  // Separate and smaller, so a flood of made-up ids cannot evict the real projects.
  const unknownProjects = new ExpiringLru<true>(NEGATIVE_LRU_SIZE);
  const projectLookups = new InFlight<boolean>(2 * timeoutMs);

  async function keystoneFetch(url: string, init: RequestInit): Promise<Response> {
    try {
      return await doFetch(url, init);
    } catch (err) {
      const name = err instanceof Error ? err.name : "Error";
      const why = name === "TimeoutError" || name === "AbortError" ? "timed out" : `failed (${name})`;
      throw new KeystoneUnavailable(`request to Keystone ${why}`);
    }
  }

  async function readJson(res: Response): Promise<unknown> {
    try {
      return await res.json();
    } catch {
      throw new KeystoneUnavailable("Keystone answered with a body that is not JSON");
    }
  }

  /** The service user's token: fetched once, reused until shortly before expiry or until rejected. */
  async function getServiceToken(
    cfg: KeystoneConfig,
    creds: ServiceCredentials,
    signal: AbortSignal,
    rejected?: string,
  ): Promise<string> {
    const config = JSON.stringify([cfg.api, creds]);
    const held = serviceToken;
    if (held && held.config === config && held.token !== rejected && now() < held.refreshAt) {
      return held.token;
    }
    return serviceTokens.run(config, async () => {
      const current = serviceToken;
      // A concurrent caller may have replaced the rejected token already.
      if (current && current.config === config && current.token !== rejected && now() < current.refreshAt) {
        return current.token;
      }
      const res = await keystoneFetch(`${cfg.api}/auth/tokens?nocatalog`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({
          auth: {
            identity: {
              methods: ["password"],
              password: {
                user: { name: creds.user, domain: { name: creds.userDomain }, password: creds.password },
              },
            },
            scope: { project: { name: creds.project, domain: { name: creds.projectDomain } } },
          },
        }),
        signal,
      });
      if (res.status !== 201 && res.status !== 200) {
        await res.body?.cancel();
        throw new KeystoneUnavailable(
          res.status === 401
            ? "Keystone rejected the service credentials (KEYSTONE_SERVICE_*)"
            : `Keystone answered ${res.status} to the service token request`,
        );
      }
      const token = res.headers.get("X-Subject-Token");
      const parsed = tokenBody.safeParse(await readJson(res));
      const expiresAt = parsed.success ? Date.parse(parsed.data.token.expires_at) : Number.NaN;
      if (!token || Number.isNaN(expiresAt)) {
        throw new KeystoneUnavailable("Keystone answered the service token request with a malformed token");
      }
      const issuedAt = now();
      const margin = Math.min(SERVICE_TOKEN_MARGIN_MS, (expiresAt - issuedAt) / 2);
      serviceToken = { config, token, refreshAt: expiresAt - margin };
      return token;
    });
  }

  /** Asks Keystone about the token. 401 for the service token: fetch a new one and retry once. */
  async function validate(cfg: KeystoneConfig, token: string): Promise<Outcome> {
    const signal = AbortSignal.timeout(timeoutMs);
    let authToken = cfg.service ? await getServiceToken(cfg, cfg.service, signal) : token;
    for (let attempt = 1; ; attempt++) {
      const res = await keystoneFetch(`${cfg.api}/auth/tokens?nocatalog`, {
        method: "GET",
        headers: { "X-Auth-Token": authToken, "X-Subject-Token": token, Accept: "application/json" },
        signal,
      });
      if (res.status === 200) return outcomeOf(await readJson(res));
      await res.body?.cancel();
      if (res.status === 404) return { valid: false, reason: "Keystone does not know the token (404)" };
      if (res.status === 401 && !cfg.service)
        return { valid: false, reason: "Keystone rejected the token (401)" };
      if (res.status === 401 && cfg.service && attempt === 1) {
        authToken = await getServiceToken(cfg, cfg.service, signal, authToken);
        continue;
      }
      throw new KeystoneUnavailable(
        res.status === 401
          ? "Keystone rejected a fresh service token while validating (401 twice)"
          : `Keystone answered ${res.status} while validating a token`,
      );
    }

    function outcomeOf(body: unknown): Outcome {
      const parsed = tokenBody.safeParse(body);
      if (!parsed.success) throw new KeystoneUnavailable("Keystone answered with a malformed token");
      const { expires_at, user, project, roles, system, domain } = parsed.data.token;
      const expiresAt = Date.parse(expires_at);
      if (Number.isNaN(expiresAt))
        throw new KeystoneUnavailable("Keystone answered with a malformed expires_at");
      const at = now();
      if (expiresAt <= at) return { valid: false, reason: "the token has expired" };
      return {
        valid: true,
        identity: {
          projectId: project?.id ?? null,
          userId: user.id,
          roles: (roles ?? []).map((r) => r.name),
          projectDomainId: project?.domain?.id ?? null,
          userDomainId: user.domain?.id ?? null,
          scope: project ? "project" : system?.all ? "system" : domain ? "domain" : "none",
        },
        until: Math.min(expiresAt, at + cfg.ttlMs),
      };
    }
  }

  /** GET /v3/projects/{id} as the service user; 401 for the service token: a new one, once. */
  async function lookupProject(cfg: KeystoneConfig, creds: ServiceCredentials, projectId: string) {
    const signal = AbortSignal.timeout(timeoutMs);
    let authToken = await getServiceToken(cfg, creds, signal);
    for (let attempt = 1; ; attempt++) {
      const res = await keystoneFetch(`${cfg.api}/projects/${encodeURIComponent(projectId)}`, {
        method: "GET",
        headers: { "X-Auth-Token": authToken, Accept: "application/json" },
        signal,
      });
      if (res.status === 200) {
        const parsed = projectBody.safeParse(await readJson(res));
        if (!parsed.success)
          throw new KeystoneUnavailable("Keystone answered a project lookup with no project");
        // A case-insensitive backend may find another spelling; a domain is not a project to share with.
        return parsed.data.project.id === projectId && parsed.data.project.is_domain !== true;
      }
      await res.body?.cancel();
      if (res.status === 404) return false;
      if (res.status === 401 && attempt === 1) {
        authToken = await getServiceToken(cfg, creds, signal, authToken);
        continue;
      }
      throw new KeystoneUnavailable(
        res.status === 403
          ? "Keystone refused identity:get_project to the service user (403); it needs the admin role"
          : res.status === 401
            ? "Keystone rejected a fresh service token while looking up a project (401 twice)"
            : `Keystone answered ${res.status} to a project lookup`,
      );
    }
  }

  function cacheUrl(request: Request, key: string): string {
    // Cloudflare advises keys on the Worker's own hostname; the path is never routed to clients.
    return `${new URL(request.url).origin}${CACHE_PATH}${key}`;
  }

  async function fromSharedCache(request: Request, key: string): Promise<Outcome | null> {
    const cache = sharedCache();
    if (!cache) return null;
    try {
      const hit = await cache.match(cacheUrl(request, key));
      if (!hit) return null;
      const entry = cachedEntry.safeParse(await hit.json());
      if (!entry.success || entry.data.until <= now()) return null;
      const { until, ...identity } = entry.data;
      return { valid: true, identity, until };
    } catch {
      return null;
    }
  }

  function toSharedCache(
    request: Request,
    key: string,
    outcome: Outcome & { valid: true },
    ctx: { waitUntil(p: Promise<unknown>): void },
    requestId: string | undefined,
  ): void {
    const cache = sharedCache();
    const seconds = Math.floor((outcome.until - now()) / 1000);
    if (!cache || seconds < 1) return;
    const body = JSON.stringify({ ...outcome.identity, until: outcome.until });
    const response = new Response(body, {
      headers: { "Content-Type": "application/json", "Cache-Control": `max-age=${seconds}` },
    });
    ctx.waitUntil(
      cache.put(cacheUrl(request, key), response).catch((err: unknown) => {
        log.warn(`token cache write failed (${err instanceof Error ? err.name : "Error"})`, {
          request_id: requestId,
        });
      }),
    );
  }

  /** Only positive answers go to the shared cache: garbage tokens must not cost cache writes. */
  function negativeUntil(cfg: KeystoneConfig): number {
    return now() + Math.min(NEGATIVE_TTL_MS, cfg.ttlMs);
  }

  function unauthorized(cfg: KeystoneConfig, requestId: string | undefined, reason: string): ApiError {
    log.info(`Keystone token refused: ${reason}`, { request_id: requestId });
    return new ApiError(401, UNAUTHORIZED, { "WWW-Authenticate": `Keystone uri="${cfg.root}"` });
  }

  function callerFor(cfg: KeystoneConfig, identity: Identity, requestId: string | undefined): Caller {
    // An unscoped token acts for nothing. System- and domain-scoped ones are valid, and their
    // routes refuse them: member routes with 401 (docs/reference.md §1), image routes by scope (docs/reference.md §11).
    if (identity.scope === "none") throw unauthorized(cfg, requestId, "the token is not scoped");
    return makeCaller(identity.projectId, identity.userId, identity.roles, {
      project: identity.projectDomainId,
      user: identity.userDomainId,
      scope: identity.scope,
    });
  }

  return {
    name: "keystone",
    async projectKnown(env, projectId, requestId) {
      const cfg = configFor(env, requestId);
      if (!cfg.service) {
        log.error("VALIDATE_MEMBER_IDS=true needs KEYSTONE_SERVICE_* credentials; refusing to add members", {
          request_id: requestId,
        });
        throw unavailable();
      }
      // URL path segments that would name another resource, not a project.
      if (projectId === "." || projectId === "..") return false;
      const key = JSON.stringify([cfg.api, projectId]);
      if (knownProjects.get(key, now())) return true;
      if (unknownProjects.get(key, now())) return false;
      const service = cfg.service;
      let known: boolean;
      try {
        known = await projectLookups.run(key, () => lookupProject(cfg, service, projectId));
      } catch (err) {
        if (!(err instanceof KeystoneUnavailable)) throw err;
        log.error(`cannot look up project ${JSON.stringify(projectId)}: ${err.detail}`, {
          request_id: requestId,
        });
        throw unavailable(KEYSTONE_RETRY_AFTER_SECONDS);
      }
      if (cfg.ttlMs > 0) {
        if (known) knownProjects.set(key, true, now() + cfg.ttlMs);
        else unknownProjects.set(key, true, negativeUntil(cfg));
      }
      return known;
    },
    async identify(request, env, ctx, requestId) {
      const cfg = configFor(env, requestId);
      const token = (request.headers.get("X-Auth-Token") ?? "").trim();
      if (token === "") throw unauthorized(cfg, requestId, "no X-Auth-Token");
      if (token.length > MAX_TOKEN_LENGTH) throw unauthorized(cfg, requestId, "X-Auth-Token is too long");

      const key = await sha256Hex(token);
      const cached = positives.get(key, now());
      if (cached) return callerFor(cfg, cached, requestId);
      const refused = negatives.get(key, now());
      if (refused !== undefined) throw unauthorized(cfg, requestId, `${refused} (cached)`);

      let outcome: Outcome;
      try {
        outcome = await validations.run(key, async () => {
          const shared = cfg.ttlMs > 0 ? await fromSharedCache(request, key) : null;
          if (shared) return shared;
          const fresh = await validate(cfg, token);
          if (fresh.valid && cfg.ttlMs > 0) toSharedCache(request, key, fresh, ctx, requestId);
          return fresh;
        });
      } catch (err) {
        if (!(err instanceof KeystoneUnavailable)) throw err;
        log.error(`cannot validate the token: ${err.detail}`, { request_id: requestId });
        throw unavailable(KEYSTONE_RETRY_AFTER_SECONDS);
      }

      if (!outcome.valid) {
        if (cfg.ttlMs > 0) negatives.set(key, outcome.reason, negativeUntil(cfg));
        throw unauthorized(cfg, requestId, outcome.reason);
      }
      if (cfg.ttlMs > 0) positives.set(key, outcome.identity, outcome.until);
      return callerFor(cfg, outcome.identity, requestId);
    },
  };
}

/** The instance the app uses: one per isolate, so its caches serve every request the isolate sees. */
export const keystone = createKeystoneStrategy();
