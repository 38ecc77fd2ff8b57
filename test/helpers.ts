import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";
import { app } from "../src/app";

/** Request helpers: `as("proj-a").post(path, body)` goes through the real app with trusted headers. */
export const BASE = "http://glance.test";

export interface Who {
  project?: string | null;
  roles?: string[];
  user?: string;
  headers?: Record<string, string>;
}

export function identity(who: Who): Record<string, string> {
  const h: Record<string, string> = { "X-Identity-Status": "Confirmed", "X-User-Id": who.user ?? "user" };
  if (who.project !== null) h["X-Project-Id"] = who.project ?? "project";
  // What Keystone puts in a project member's token (member implies reader); [] sends no roles.
  const roles = who.roles ?? ["member", "reader"];
  if (roles.length > 0) h["X-Roles"] = roles.join(",");
  return { ...h, ...(who.headers ?? {}) };
}

export function call(
  method: string,
  path: string,
  opts: {
    who?: Who;
    body?: unknown;
    raw?: BodyInit | null;
    headers?: Record<string, string>;
    /** Other vars for this request (e.g. POLICY_DEFAULTS), through fetchWith. */
    vars?: Partial<Cloudflare.Env>;
  } = {},
): Promise<Response> {
  const headers: Record<string, string> = {
    ...(opts.who ? identity(opts.who) : {}),
    Accept: "application/json",
    ...(opts.headers ?? {}),
  };
  let body: BodyInit | null | undefined = opts.raw;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["Content-Type"] ??= "application/json";
  }
  const request = new Request(`${BASE}${path}`, { method, headers, body });
  return opts.vars ? fetchWith(opts.vars, request) : exports.default.fetch(request);
}

/**
 * Requests as a project with these roles (default: what Keystone gives a project member,
 * member and reader), optionally with other vars (`as(p, roles, LEGACY)`).
 */
export function as(
  project: string | null,
  roles: string[] = ["member", "reader"],
  vars?: Partial<Cloudflare.Env>,
) {
  const who: Who = { project, roles };
  const run = (method: string) => (path: string, body?: unknown, headers?: Record<string, string>) =>
    call(method, path, { who, body, headers, vars });
  return {
    who,
    get: run("GET"),
    post: run("POST"),
    put: run("PUT"),
    patch: (path: string, ops: unknown) =>
      call("PATCH", path, {
        who,
        vars,
        body: ops,
        headers: { "Content-Type": "application/openstack-images-v2.1-json-patch" },
      }),
    delete: run("DELETE"),
    /** PATCH with a plain JSON body (member expiry, SPEC §12.1), unlike `patch`'s JSON-patch. */
    patchJson: run("PATCH"),
  };
}

/** Glance up to Zed's rules (SPEC §11 `legacy`): SPEC §4–§5 as written. */
export const LEGACY: Partial<Cloudflare.Env> = { POLICY_DEFAULTS: "legacy" };

export const admin = () => as(`admin-${rid()}`, ["admin", "member"]);

/** Random ids so that tests own their data and never depend on order. */
export const rid = () => crypto.randomUUID().slice(0, 8);
export const project = (label = "p") => `${label}-${rid()}`;

/** Creates an image as `owner` and returns its id. */
export async function createImage(owner: string, fields: Record<string, unknown> = {}, roles?: string[]) {
  const res = await as(owner, roles).post("/v2/images", { name: `img-${rid()}`, ...fields });
  expect(res.status, await res.clone().text()).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

export async function addMember(owner: string, imageId: string, member: string) {
  const res = await as(owner).post(`/v2/images/${imageId}/members`, { member_id: member });
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json();
}

/** Reason phrases SPEC §2 expects, written out independently of src/http/errors.ts. */
export const REASONS: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  410: "Gone",
  413: "Request Entity Too Large",
  415: "Unsupported Media Type",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/** The SPEC §2 JSON error body. */
export function errorBody(status: number, message: string) {
  const reason = REASONS[status] as string;
  return { message, code: `${status} ${reason}`, title: reason };
}

/** Asserts status and the exact JSON error body. */
export async function expectError(res: Response, status: number, message: string) {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get("Content-Type")).toBe("application/json");
  expect(JSON.parse(text)).toStrictEqual(errorBody(status, message));
}

/** Every row of images, memberships and audit records, for "rejected requests change nothing" checks. */
export async function dump(): Promise<string> {
  const images = await env.DB.prepare("SELECT * FROM images ORDER BY id").all();
  const members = await env.DB.prepare("SELECT * FROM image_members ORDER BY image_id, member_id").all();
  const events = await env.DB.prepare("SELECT * FROM member_events ORDER BY id").all();
  return JSON.stringify([images.results, members.results, events.results]);
}

/** The real app with other vars or bindings (the test env's own D1 and R2 by default). */
export async function fetchWith(vars: Partial<Cloudflare.Env>, req: Request): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(req, { ...env, ...vars }, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

/** A member object's keys, in SPEC §5 order. */
export const MEMBER_KEYS = ["member_id", "image_id", "status", "created_at", "updated_at", "schema"];
