import { cors } from "hono/cors";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../env";

/**
 * CORS only for the origins listed in CORS_ALLOWED_ORIGINS (comma or space separated, exact
 * matches). Empty, the default, means off: no Access-Control-* header on any response. Any
 * other origin gets no CORS header either, so browsers keep it out. Tokens travel in
 * X-Auth-Token, never in cookies, so credentials are never allowed.
 */
const policies = new Map<string, ReturnType<typeof cors>>();

function policyFor(configured: string) {
  let policy = policies.get(configured);
  if (!policy) {
    policy = cors({
      origin: configured.split(/[\s,]+/).filter((o) => o !== ""),
      allowMethods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
      allowHeaders: ["X-Auth-Token", "Content-Type", "Accept", "X-Openstack-Request-Id"],
      exposeHeaders: ["x-openstack-request-id", "Location", "Retry-After", "WWW-Authenticate", "Allow"],
      maxAge: 600,
      credentials: false,
    });
    policies.set(configured, policy);
  }
  return policy;
}

export const corsWhenConfigured = createMiddleware<AppEnv>(async (c, next) => {
  const configured = (c.env.CORS_ALLOWED_ORIGINS ?? "").trim();
  const origin = c.req.header("Origin");
  if (configured === "" || origin === undefined) return next();
  if (!configured.split(/[\s,]+/).includes(origin)) return next();
  return policyFor(configured)(c, next);
});
