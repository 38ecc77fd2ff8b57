import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../env";
import { ApiError, UNAUTHORIZED, unavailable } from "../http/errors";
import { log } from "../log";
import { type Caller, projectCaller } from "./caller";
import { keystone } from "./keystone";
import { trustedHeaders } from "./trusted-headers";

/** Where a caller's identity comes from (docs/reference.md §1). */
export interface IdentityStrategy {
  readonly name: string;
  /** The caller, or an ApiError: 401 for bad credentials, 503 when identity cannot be checked. */
  identify(
    request: Request,
    env: Cloudflare.Env,
    ctx: { waitUntil(p: Promise<unknown>): void },
    /** For log lines only. */
    requestId?: string,
  ): Promise<Caller>;
}

const STRATEGIES: Record<string, IdentityStrategy | undefined> = {
  "trusted-headers": trustedHeaders,
  keystone,
};

const warned = new Set<string>();

/** The configured strategy; anything missing or unknown fails closed with 503. */
export function strategyFor(env: Cloudflare.Env, requestId: string): IdentityStrategy {
  const name = env.AUTH_STRATEGY ?? "";
  const strategy = STRATEGIES[name];
  if (!strategy) {
    log.error(`AUTH_STRATEGY ${JSON.stringify(name)} is not available; refusing every /v2 request`, {
      request_id: requestId,
    });
    throw unavailable();
  }
  if (strategy === trustedHeaders && !warned.has(name)) {
    warned.add(name);
    log.warn(
      "AUTH_STRATEGY=trusted-headers: identity headers are trusted as sent; use only behind a gateway that sets them",
      { request_id: requestId },
    );
  }
  return strategy;
}

export const authenticate = createMiddleware<AppEnv>(async (c, next) => {
  const strategy = strategyFor(c.env, c.get("requestId"));
  c.set("caller", await strategy.identify(c.req.raw, c.env, c.executionCtx, c.get("requestId")));
  await next();
});

export const requireProject = createMiddleware<AppEnv>(async (c, next) => {
  projectCaller(c.get("caller"));
  await next();
});

/**
 * What image routes store as the caller's project for a token scoped to the system or a domain
 * under secure-rbac: no owner or member can be this (member ids hold no control characters),
 * and every project-scoped rule refuses such a caller anyway (src/policy/policy.ts checkFor).
 */
export const NO_PROJECT = "\u0000no project";

/**
 * Image routes act for a project; under secure-rbac a system- or domain-scoped token is let in
 * and refused by scope, as Glance with enforce_scope answers it (403 for the list and create,
 * 404 for an image). Member routes keep docs/reference.md §1's 401 (requireProject).
 */
export function imageProject(c: {
  get(key: "caller"): Caller;
  get(key: "policy"): AppEnv["Variables"]["policy"];
}): string {
  const caller = c.get("caller");
  if (caller.projectId !== null) return caller.projectId;
  if (caller.scope !== "project" && c.get("policy").ruleSet === "secure-rbac") return NO_PROJECT;
  throw new ApiError(401, UNAUTHORIZED);
}

export const requireImageCaller = createMiddleware<AppEnv>(async (c, next) => {
  imageProject(c);
  await next();
});
