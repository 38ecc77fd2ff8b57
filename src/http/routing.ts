import type { Hono } from "hono";
import type { AppEnv } from "../env";
import { ApiError } from "./errors";

/** An unsupported method on a known path: 405 with the methods that path has (docs/reference.md §2). */
export function allowOnly(app: Hono<AppEnv>, path: string, methods: string[]): void {
  const allow = methods.join(", ");
  const known = new Set([...methods, ...(methods.includes("GET") ? ["HEAD"] : [])]);
  app.all(path, (c, next) => {
    if (known.has(c.req.method)) return next();
    throw new ApiError(405, "The method is not allowed for the requested URL.", { Allow: allow });
  });
}
