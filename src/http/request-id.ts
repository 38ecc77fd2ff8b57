import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../env";

// At most 64 of [A-Za-z0-9-], and something besides the prefix.
const CLIENT_ID = /^(?!(?:req-)?$)[A-Za-z0-9-]{1,64}$/;

/**
 * x-openstack-request-id: reuse a well-formed client id (prefixing "req-"), else make one.
 * A malformed id is replaced, not answered with 500 as Glance does (docs/reference.md §10.6).
 */
export function requestIdFor(sent: string | undefined): string {
  if (sent !== undefined && CLIENT_ID.test(sent)) {
    return sent.startsWith("req-") ? sent : `req-${sent}`;
  }
  return `req-${crypto.randomUUID()}`;
}

export const requestId = createMiddleware<AppEnv>(async (c, next) => {
  const id = requestIdFor(c.req.header("X-Openstack-Request-Id"));
  c.set("requestId", id);
  await next();
  c.res.headers.set("x-openstack-request-id", id);
});
