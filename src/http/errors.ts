import type { Context } from "hono";
import { prefersJson } from "./negotiate";

/** Reason phrases used in error bodies (SPEC §2: 413 is "Request Entity Too Large"). */
const REASONS: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  410: "Gone",
  413: "Request Entity Too Large",
  415: "Unsupported Media Type",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

export const UNKNOWN_FAILURE =
  "The server has either erred or is incapable of performing the requested operation.";
export const UNAUTHORIZED =
  "This server could not verify that you are authorized to access the document you requested.";
/** 503 for anything identity or configuration cannot vouch for (fail closed). */
export const UNAVAILABLE = "The server is currently unavailable. Please try again at a later time.";

/** The one error the app raises on purpose; everything else becomes a logged 500. */
export class ApiError extends Error {
  constructor(
    readonly status: keyof typeof REASONS & number,
    readonly explanation: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(explanation);
    this.name = "ApiError";
  }
}

/** How long a client should wait after a storage failure before retrying. */
export const STORAGE_RETRY_AFTER = "5";

/**
 * D1 failed (src/db/guard.ts): the client may retry. The cause is logged with the request id,
 * never shown, so no SQL, binding or stack text reaches a response.
 */
export class StorageUnavailable extends ApiError {
  constructor(override readonly cause: unknown) {
    super(503, UNAVAILABLE, { "Retry-After": STORAGE_RETRY_AFTER });
    this.name = "StorageUnavailable";
  }
}

/** Glance's error body, as JSON or as plain text depending on Accept (SPEC §2). */
export function errorResponse(
  accept: string | undefined,
  status: number,
  explanation: string,
  headers: Record<string, string> = {},
): Response {
  const reason = REASONS[status] ?? "Error";
  if (prefersJson(accept)) {
    return Response.json(
      { message: explanation, code: `${status} ${reason}`, title: reason },
      { status, headers },
    );
  }
  return new Response(`${status} ${reason}\n\n${explanation}\n`, {
    status,
    headers: { ...headers, "Content-Type": "text/plain; charset=UTF-8" },
  });
}

/** The one place an error becomes HTTP. Unknown errors are logged, never shown. */
export function onError(err: Error, c: Context): Response {
  if (err instanceof ApiError) {
    if (err instanceof StorageUnavailable) logFailure(c, err.name, err.cause);
    return errorResponse(c.req.header("Accept"), err.status, err.explanation, err.headers);
  }
  logFailure(c, err.name, err);
  return errorResponse(c.req.header("Accept"), 500, UNKNOWN_FAILURE);
}

function logFailure(c: Context, error: string, cause: unknown): void {
  console.error(
    JSON.stringify({
      level: "error",
      request_id: c.get("requestId"),
      method: c.req.method,
      path: c.req.path,
      error,
      detail: cause instanceof Error ? cause.message : String(cause),
    }),
  );
}
