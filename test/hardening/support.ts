import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { app } from "../../src/app";

/** Shared by the hardening suites: calling the real app, and what every answer must look like. */
export const BASE = "http://glance.test";

/**
 * A caller: a project and its roles — `roles` as given (none: no X-Roles header), else what
 * Keystone gives a project member (member, reader) or, with `admin`, an admin (admin, member,
 * reader: Keystone's implied roles).
 */
export interface Caller {
  project: string;
  admin?: boolean;
  roles?: readonly string[];
}

export function identityHeaders(c: Caller): Record<string, string> {
  const roles = c.roles ?? (c.admin ? ["admin", "member", "reader"] : ["member", "reader"]);
  const h: Record<string, string> = {
    "X-Identity-Status": "Confirmed",
    "X-Project-Id": c.project,
    "X-User-Id": `user-of-${c.project}`,
  };
  if (roles.length > 0) h["X-Roles"] = roles.join(",");
  return h;
}

/**
 * The real app (src/app.ts) with this test's bindings, overridable per call: the D1 binding
 * (fault injection) or a variable (quota, CORS).
 */
export function fetchApp(request: Request, overrides: Partial<Cloudflare.Env> = {}): Promise<Response> {
  return Promise.resolve(app.fetch(request, { ...env, ...overrides }, createExecutionContext()));
}

import { REASONS } from "../helpers";

export { REASONS };

/** Text that must never reach a client: SQL, D1 or SQLite names, stack frames, error dumps. */
export const LEAK = /SQLITE|SELECT|INSERT|UPDATE image|DELETE FROM|D1_|at .*\.ts|Error:/;

/** A client request id that SPEC §2 requires us to reuse, and the form of one we generated. */
// A client id worth reusing: at most 64 of [A-Za-z0-9-], and more than the bare "req-" prefix.
export const CLIENT_REQUEST_ID = /^(?!(?:req-)?$)[A-Za-z0-9-]{1,64}$/;
export const GENERATED_REQUEST_ID =
  /^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The problems with an error answer, judged by SPEC §2 only; empty when it is right. */
export function errorShapeProblems(
  status: number,
  contentType: string | null,
  text: string,
  wantsJson: boolean | "either",
): string[] {
  const reason = REASONS[status];
  if (reason === undefined) return [`status ${status} has no SPEC reason phrase`];
  const asJson = contentType === "application/json";
  const asText = contentType === "text/plain; charset=UTF-8";
  if (wantsJson === true && !asJson) return [`Accept asked for JSON, got ${contentType}`];
  if (wantsJson === false && !asText) return [`Accept did not ask for JSON, got ${contentType}`];
  if (asJson) {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return [`JSON error body does not parse: ${text}`];
    }
    const o = body as Record<string, unknown>;
    const keys = JSON.stringify(Object.keys(o ?? {}));
    if (keys !== '["message","code","title"]') return [`error keys ${keys}`];
    const out: string[] = [];
    if (typeof o.message !== "string" || o.message === "") out.push("message is not a non-empty string");
    if (o.code !== `${status} ${reason}`) out.push(`code ${JSON.stringify(o.code)}`);
    if (o.title !== reason) out.push(`title ${JSON.stringify(o.title)}`);
    return out;
  }
  if (asText) {
    const head = `${status} ${reason}\n\n`;
    if (!text.startsWith(head) || !text.endsWith("\n") || text.length <= head.length + 1)
      return [`text error body not "<status> <reason>\\n\\n<explanation>\\n": ${JSON.stringify(text)}`];
    return [];
  }
  return [`error Content-Type ${contentType}`];
}
