import type { Context } from "hono";
import { detailOf, log } from "../log";
import { prefersJson } from "./negotiate";

/**
 * The statuses this API answers with, and their reason phrases in error bodies (docs/reference.md §2: 413 is
 * "Request Entity Too Large"). A status outside this list does not compile.
 */
export const REASONS = {
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
} as const;

/** Every status an error body may carry. */
export type ErrorStatus = keyof typeof REASONS;
/** What the app may answer on purpose; a 500 is only ever onError's answer to the unexpected. */
export type ApiStatus = Exclude<ErrorStatus, 500>;

// The texts several modules answer with; the rest stay next to the one rule that uses them.
export const UNKNOWN_FAILURE =
  "The server has either erred or is incapable of performing the requested operation.";
export const UNAUTHORIZED =
  "This server could not verify that you are authorized to access the document you requested.";
/** 503 for anything identity, configuration or storage cannot vouch for (fail closed). */
export const UNAVAILABLE = "The server is currently unavailable. Please try again at a later time.";
/** webob's default text for a 404 without explanation (Glance's NotFound, and unknown paths). */
export const RESOURCE_NOT_FOUND = "The resource could not be found.";
/** Glance's words for a rule that failed (oslo.policy's PolicyNotAuthorized via Glance). */
export const notAuthorizedText = (rule: string) => `You are not authorized to complete ${rule} action.`;
/** A listing's marker that is not one of ours (docs/reference.md §12). */
export const INVALID_MARKER = "Invalid marker.";

/** The one error the app raises on purpose; everything else becomes a logged 500. */
export class ApiError extends Error {
  constructor(
    readonly status: ApiStatus,
    readonly explanation: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(explanation);
    this.name = "ApiError";
  }
}

/**
 * 503 with Retry-After: identity, configuration or storage cannot answer now and the client may
 * try again. 30 s for a misconfiguration, less for an outage that may pass.
 */
export function unavailable(retryAfterSeconds = 30): ApiError {
  return new ApiError(503, UNAVAILABLE, { "Retry-After": String(retryAfterSeconds) });
}

/** How long a client should wait after a storage failure before retrying. */
export const STORAGE_RETRY_AFTER_SECONDS = 5;

/**
 * D1 failed (src/db/guard.ts): the client may retry. The cause is logged with the request id,
 * never shown, so no SQL, binding or stack text reaches a response.
 */
export class StorageUnavailable extends ApiError {
  constructor(override readonly cause: unknown) {
    const { status, explanation, headers } = unavailable(STORAGE_RETRY_AFTER_SECONDS);
    super(status, explanation, headers);
    this.name = "StorageUnavailable";
  }
}

/** Glance's error body, as JSON or as plain text depending on Accept (docs/reference.md §2). */
export function errorResponse(
  accept: string | undefined,
  status: ErrorStatus,
  explanation: string,
  headers: Record<string, string> = {},
): Response {
  const reason = REASONS[status];
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
    if (err instanceof StorageUnavailable) logFailure(c, "storage failed; answered 503", err.name, err.cause);
    return errorResponse(c.req.header("Accept"), err.status, err.explanation, err.headers);
  }
  logFailure(c, "unexpected error; answered 500", err.name, err);
  return errorResponse(c.req.header("Accept"), 500, UNKNOWN_FAILURE);
}

function logFailure(c: Context, msg: string, error: string, cause: unknown): void {
  log.error(msg, {
    request_id: c.get("requestId"),
    method: c.req.method,
    path: c.req.path,
    error,
    detail: detailOf(cause),
  });
}
