/** A small fake Keystone v3 for the keystone-*.test.ts files: tokens, service logins, recorded calls. */

export const KEYSTONE_URL = "http://keystone.test/v3";
export const KEYSTONE_ROOT = "http://keystone.test";
export const WWW_AUTHENTICATE = `Keystone uri="${KEYSTONE_ROOT}"`;

export interface FakeToken {
  project?: string | null;
  /** A system-scoped token (project null): `{"system": {"all": true}}`. */
  system?: boolean;
  user?: string;
  roles?: string[];
  expiresAt: number;
}

export interface Call {
  method: string;
  url: string;
  headers: Headers;
  body: unknown;
  signal: AbortSignal | null;
}

export const SERVICE = {
  KEYSTONE_SERVICE_USER: "glance",
  KEYSTONE_SERVICE_PASSWORD: "service-secret-password",
  KEYSTONE_SERVICE_PROJECT: "service",
};

/** The JSON Keystone answers to GET /v3/auth/tokens, with its microsecond timestamps. */
export function tokenDocument(t: FakeToken): unknown {
  const token: Record<string, unknown> = {
    methods: ["password"],
    user: { id: t.user ?? "user-1", name: "alice", domain: { id: "default", name: "Default" } },
    audit_ids: ["x"],
    expires_at: new Date(t.expiresAt).toISOString().replace("Z", "000Z"),
    issued_at: "2026-01-01T00:00:00.000000Z",
  };
  if (t.project !== null) {
    token.project = {
      id: t.project ?? "project-1",
      name: "demo",
      domain: { id: "default", name: "Default" },
    };
    token.roles = (t.roles ?? ["member", "reader"]).map((name, i) => ({ id: `r${i}`, name }));
  } else if (t.system) {
    token.system = { all: true };
    token.roles = (t.roles ?? ["admin", "member", "reader"]).map((name, i) => ({ id: `r${i}`, name }));
  }
  return { token };
}

export class FakeKeystone {
  readonly calls: Call[] = [];
  readonly tokens = new Map<string, FakeToken>();
  /** Service tokens Keystone still accepts as X-Auth-Token. */
  readonly serviceTokens = new Set<string>();
  serviceTokenLifetimeMs = 3_600_000;
  /** Project ids GET /v3/projects/{id} finds (as Keystone answers its service user with admin). */
  readonly projects = new Set<string>();
  issued = 0;
  /** Replaces every answer when set: outages, odd statuses, malformed bodies. */
  override: ((call: Call) => Response | Promise<Response>) | null = null;

  constructor(readonly now: () => number) {}

  readonly fetch = async (input: string, init: RequestInit): Promise<Response> => {
    const headers = new Headers(init.headers);
    const body = typeof init.body === "string" ? JSON.parse(init.body) : null;
    const call = { method: init.method ?? "GET", url: input, headers, body, signal: init.signal ?? null };
    this.calls.push(call);
    if (this.override) return this.override(call);
    return this.answer(call);
  };

  get validations(): Call[] {
    return this.calls.filter((c) => c.method === "GET" && new URL(c.url).pathname.endsWith("/auth/tokens"));
  }

  get projectLookups(): Call[] {
    return this.calls.filter((c) => c.method === "GET" && new URL(c.url).pathname.includes("/projects/"));
  }

  get logins(): Call[] {
    return this.calls.filter((c) => c.method === "POST");
  }

  answer(call: Call): Response {
    if (call.method === "POST") {
      const token = `service-token-${++this.issued}`;
      this.serviceTokens.add(token);
      const expiresAt = this.now() + this.serviceTokenLifetimeMs;
      return Response.json(tokenDocument({ project: "service", user: "glance", expiresAt }), {
        status: 201,
        headers: { "X-Subject-Token": token },
      });
    }
    const auth = call.headers.get("X-Auth-Token") ?? "";
    const projectPath = /\/v3\/projects\/([^/?]+)$/.exec(new URL(call.url).pathname);
    if (projectPath) {
      if (!this.serviceTokens.has(auth)) return unauthorized();
      const id = decodeURIComponent(projectPath[1] ?? "");
      if (!this.projects.has(id)) return Response.json({ error: { code: 404 } }, { status: 404 });
      return Response.json({
        project: { id, name: `name-${id}`, domain_id: "default", is_domain: false, enabled: true },
      });
    }
    const subject = call.headers.get("X-Subject-Token") ?? "";
    const self = auth === subject;
    if (!self && !this.serviceTokens.has(auth)) return unauthorized();
    const token = this.tokens.get(subject);
    // Keystone answers 401 when the token that authenticates the call is itself bad.
    if (!token) return self ? unauthorized() : Response.json({ error: { code: 404 } }, { status: 404 });
    return Response.json(tokenDocument(token), { headers: { "X-Subject-Token": subject } });
  }
}

function unauthorized(): Response {
  return Response.json(
    {
      error: {
        code: 401,
        title: "Unauthorized",
        message: "The request you have made requires authentication.",
      },
    },
    { status: 401, headers: { "WWW-Authenticate": 'Keystone uri="http://keystone.test"' } },
  );
}

export function randomToken(): string {
  return `gAAAAA${crypto.randomUUID().replaceAll("-", "")}${crypto.randomUUID().replaceAll("-", "")}`;
}
