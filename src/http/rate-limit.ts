import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../env";
import { log } from "../log";
import { ApiError } from "./errors";

declare global {
  namespace Cloudflare {
    interface Env {
      /**
       * Optional Workers Rate Limiting binding (wrangler.toml `[[ratelimits]]`): membership writes
       * per caller project. Absent: no limit.
       */
      MEMBER_WRITE_LIMIT?: RateLimit;
    }
  }
}

export const RATE_LIMITED = "Too many membership changes from your project. Please try again later.";
/** The binding's period is 10 or 60 s and not visible to the Worker: the longer one is always enough. */
export const RATE_LIMIT_RETRY_AFTER = "60";

const READS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Membership writes count against the caller's project before anything else is looked at, so a
 * refused write (429) writes nothing and a flood of invalid writes is slowed as well. Reads are
 * never limited. A limiter that fails lets the write through (logged): the limit protects against
 * floods, it does not decide who may share.
 */
export const limitMemberWrites = createMiddleware<AppEnv>(async (c, next) => {
  const limiter = c.env.MEMBER_WRITE_LIMIT;
  if (!limiter || READS.has(c.req.method)) return next();
  const project = c.get("caller").projectId;
  let success = true;
  try {
    ({ success } = await limiter.limit({ key: `member-writes:${project ?? ""}` }));
  } catch (err) {
    log.error(`rate limiter failed (${err instanceof Error ? err.name : "Error"}); write not limited`, {
      request_id: c.get("requestId"),
    });
  }
  if (!success) throw new ApiError(429, RATE_LIMITED, { "Retry-After": RATE_LIMIT_RETRY_AFTER });
  await next();
});
