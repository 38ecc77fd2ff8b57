import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";
import { app } from "../src/app";
import type { MemberEvent } from "../src/members/events";
import { countingDb, type RoundTrip } from "./perf/counting-db";

/**
 * The one way a test sends a request: `call(method, path, options)`, or `as(project).post(…)`
 * on top of it, goes through the real app with trusted identity headers. `request` builds the
 * same Request for a test that must alter it first; `fetchWith` sends any Request.
 */
export const BASE = "http://glance.test";

/** The Content-Type of Glance's image PATCH (docs/reference.md §8). */
export const JSON_PATCH = "application/openstack-images-v2.1-json-patch";

/** A caller, as trusted identity headers carry it (docs/reference.md §1). */
export interface Who {
  /** null: no X-Project-Id at all. */
  project?: string | null;
  /** Default: what Keystone puts in a project member's token; [] sends no X-Roles. */
  roles?: readonly string[];
  /** Default: `user-of-<project>`. */
  user?: string;
  /** Headers over the identity ones (odd spellings of X-Roles, say). */
  headers?: Record<string, string>;
}

export function identity(who: Who): Record<string, string> {
  const project = who.project === undefined ? "project" : who.project;
  const h: Record<string, string> = {
    "X-Identity-Status": "Confirmed",
    "X-User-Id": who.user ?? (project === null ? "user" : `user-of-${project}`),
  };
  if (project !== null) h["X-Project-Id"] = project;
  // What Keystone puts in a project member's token (member implies reader); [] sends no roles.
  const roles = who.roles ?? ["member", "reader"];
  if (roles.length > 0) h["X-Roles"] = roles.join(",");
  return { ...h, ...(who.headers ?? {}) };
}

export interface CallOptions {
  who?: Who;
  /** A body sent as JSON (Content-Type application/json unless `type` says otherwise). */
  body?: unknown;
  /** A body sent as it is. */
  raw?: BodyInit | null;
  /** The body's Content-Type. */
  type?: string;
  /** Headers over the defaults (Accept: application/json); undefined leaves one out. */
  headers?: Record<string, string | undefined>;
  /** Other vars or bindings for this request (POLICY_DEFAULTS, a faulty D1…), through fetchWith. */
  vars?: Partial<Cloudflare.Env>;
}

/** The Request `call` sends; `path` may also be a whole URL (another origin). */
export function request(method: string, path: string, opts: CallOptions = {}): Request {
  const headers = new Headers({ ...(opts.who ? identity(opts.who) : {}), Accept: "application/json" });
  let body: BodyInit | null | undefined = opts.raw;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers.set("Content-Type", "application/json");
  }
  if (opts.type !== undefined) headers.set("Content-Type", opts.type);
  for (const [name, value] of Object.entries(opts.headers ?? {})) {
    if (value === undefined) headers.delete(name);
    else headers.set(name, value);
  }
  return new Request(/^https?:/.test(path) ? path : `${BASE}${path}`, { method, headers, body });
}

export function call(method: string, path: string, opts: CallOptions = {}): Promise<Response> {
  return fetchWith(opts.vars, request(method, path, opts));
}

/**
 * Sends a request to the Worker's entry point (src/index.ts) or, with vars, to the app with the
 * test's bindings and these vars over them, and waits for the work it left to waitUntil.
 * `to` is another build of the app (a fresh module graph's).
 */
export async function fetchWith(
  vars: Partial<Cloudflare.Env> | undefined,
  req: Request,
  to: Pick<typeof app, "fetch"> = app,
): Promise<Response> {
  if (vars === undefined && to === app) return exports.default.fetch(req);
  const ctx = createExecutionContext();
  const res = await to.fetch(req, { ...env, ...vars }, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

/** An answer, and the D1 round trips its request made (test/perf/counting-db.ts), waitUntil's included. */
export interface Counted {
  status: number;
  /** The body; a binary one as its size. */
  text: string;
  trips: RoundTrip[];
}

/** `call` on a D1 binding that records every round trip. */
export async function callCounted(method: string, path: string, opts: CallOptions = {}): Promise<Counted> {
  const counting = countingDb(env.DB);
  const res = await call(method, path, { ...opts, vars: { ...opts.vars, DB: counting.db } });
  const text = await bodyText(res);
  return { status: res.status, text, trips: [...counting.trips] };
}

/** An answer read whole: the body's text, and its JSON when it has one. */
export interface Answer {
  res: Response;
  status: number;
  text: string;
  requestId: string;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies of any route
  json: any;
}

export async function answer(res: Response | Promise<Response>): Promise<Answer> {
  const r = await res;
  const text = await r.text();
  return {
    res: r,
    status: r.status,
    text,
    requestId: r.headers.get("x-openstack-request-id") ?? "",
    json: text === "" ? null : JSON.parse(text),
  };
}

/** A response's body as text; image data as its size. */
export async function bodyText(res: Response): Promise<string> {
  if (/json|text/.test(res.headers.get("Content-Type") ?? "") || res.body === null) return res.text();
  return `${(await res.arrayBuffer()).byteLength} bytes`;
}

/**
 * Requests as a project with these roles (default: what Keystone gives a project member,
 * member and reader), optionally with other vars (`as(p, roles, LEGACY)`).
 */
export function as(
  project: string | null,
  roles: readonly string[] = ["member", "reader"],
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
    patch: (path: string, ops: unknown) => call("PATCH", path, { who, vars, body: ops, type: JSON_PATCH }),
    delete: run("DELETE"),
    /** PATCH with a plain JSON body (member expiry, docs/reference.md §12.1), unlike `patch`'s JSON-patch. */
    patchJson: run("PATCH"),
  };
}

/** Glance up to Zed's rules (docs/reference.md §11 `legacy`): docs/reference.md §4–§5 as written. */
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

/** Reason phrases docs/reference.md §2 expects, written out independently of src/http/errors.ts. */
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

/** The docs/reference.md §2 JSON error body. */
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

/** A member object's keys, in docs/reference.md §5 order. */
export const MEMBER_KEYS = ["member_id", "image_id", "status", "created_at", "updated_at", "schema"];

/** A member event's keys, in the order Glance's notifier writes them (docs/reference.md §9). */
export const EVENT_KEYS = ["message_id", "publisher_id", "event_type", "priority", "timestamp", "payload"];

/**
 * Accept values whose error format docs/reference.md §2 decides: JSON (true) only when application/json wins
 * outright over text/html, webob's first offer; else text.
 */
export const NEGOTIATION: readonly (readonly [accept: string | undefined, json: boolean])[] = [
  [undefined, false],
  ["*/*", false],
  ["application/json", true],
  ["APPLICATION/JSON", true],
  ["text/html", false],
  ["text/plain", false],
  ["text/*", false],
  ["application/json, text/html", false],
  ["text/html, application/json", false],
  ["application/json, */*", false],
  ["application/json, */*;q=0.1", true],
  ["application/json;q=0.9, text/html;q=0.8", true],
  ["text/html;q=0.1, application/json", true],
  ["application/json;q=0", false],
];

/** Text that must never reach a client: SQL, D1 or SQLite names, stack frames, error dumps. */
export const LEAK = /SQLITE|SELECT|INSERT|UPDATE image|DELETE FROM|D1_|at .*\.ts|Error:/;

/** A client request id that docs/reference.md §2 requires us to reuse, and the form of one we generated. */
// A client id worth reusing: at most 64 of [A-Za-z0-9-], and more than the bare "req-" prefix.
export const CLIENT_REQUEST_ID = /^(?!(?:req-)?$)[A-Za-z0-9-]{1,64}$/;
export const GENERATED_REQUEST_ID =
  /^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The problems with an error answer, judged by docs/reference.md §2 only; empty when it is right. */
export function errorShapeProblems(
  status: number,
  contentType: string | null,
  text: string,
  wantsJson: boolean | "either",
): string[] {
  const reason = REASONS[status];
  if (reason === undefined) return [`status ${status} has no reference reason phrase`];
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

/** A Queue binding (NOTIFICATIONS) that records what is sent, or fails every send with `fail`. */
export function recordingQueue<T = MemberEvent>(opts: { fail?: Error; delayMs?: number } = {}) {
  /** Every message, in the order it was sent. */
  const sent: T[] = [];
  /** Each call, and the messages it carried. */
  const calls: { kind: "send" | "sendBatch"; messages: T[] }[] = [];
  const record = async (kind: "send" | "sendBatch", messages: T[]) => {
    // Slow when asked, as a real Queue is: only what a handler hands to waitUntil is waited for.
    if (opts.delayMs) await new Promise((resolve) => setTimeout(resolve, opts.delayMs));
    if (opts.fail) throw opts.fail;
    const copies = messages.map((m) => structuredClone(m));
    calls.push({ kind, messages: copies });
    sent.push(...copies);
  };
  const queue = {
    send: (message: T) => record("send", [message]),
    sendBatch: (messages: Iterable<MessageSendRequest<T>>) =>
      record(
        "sendBatch",
        [...messages].map((m) => m.body),
      ),
  } as unknown as Queue;
  return { queue, sent, calls };
}
