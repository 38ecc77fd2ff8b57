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
  413: "Request Entity Too Large",
  415: "Unsupported Media Type",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

export const UNKNOWN_FAILURE =
  "The server has either erred or is incapable of performing the requested operation.";
export const UNAUTHORIZED =
  "This server could not verify that you are authorized to access the document you requested.";

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
    return errorResponse(c.req.header("Accept"), err.status, err.explanation, err.headers);
  }
  console.error(
    JSON.stringify({
      level: "error",
      request_id: c.get("requestId"),
      method: c.req.method,
      path: c.req.path,
      error: err.name,
      detail: err.message,
    }),
  );
  return errorResponse(c.req.header("Accept"), 500, UNKNOWN_FAILURE);
}
