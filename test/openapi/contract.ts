import { type Schema, Validator } from "@cfworker/json-schema";

/**
 * The OpenAPI document checked against what the service really answers: for one request and its
 * response, the problems (empty when the document declares this answer). A response is declared
 * when its operation lists its status, its Content-Type is one that status lists, its body
 * validates against that media type's schema, and every header the document marks required is
 * present. The document's general rules (its info.description) cover the rest: HEAD is GET
 * without a body, a path the document does not list answers 404, a method its path does not take
 * 405 with Allow — or, under /v2, whatever identity answered first (401, 503), and anything 500.
 * Validation is @cfworker/json-schema's (draft 2020-12, no code generation, so it runs in workerd).
 */
type Json = { [key: string]: unknown };

export interface Seen {
  method: string;
  url: string;
  status: number;
  headers: Headers;
  /** The body as text; null when it is not text (image data) and was not read. */
  body: string | null;
}

const BASE = "https://openapi.invalid/document.json";
const METHODS = ["get", "put", "post", "delete", "patch"] as const;

export class Contract {
  private readonly validator = new Map<string, Validator>();
  private readonly templates: { path: string; pattern: RegExp; item: Json }[];

  constructor(private readonly doc: Json) {
    const paths = doc.paths as Record<string, Json>;
    this.templates = Object.entries(paths).map(([path, item]) => ({
      path,
      item,
      pattern: new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{[^}]+\}/g, "[^/]+")}$`),
    }));
  }

  /** Follows local $refs (#/components/…): the node and its JSON pointer in the document. */
  private locate(node: unknown, pointer: string): { node: Json; pointer: string } {
    let n = node as Json;
    let at = pointer;
    while (n && typeof n.$ref === "string") {
      const ref = n.$ref as string;
      if (!ref.startsWith("#/")) throw new Error(`non-local $ref ${ref}`);
      at = ref.slice(1);
      n = ref
        .slice(2)
        .split("/")
        .reduce<Json>((x, key) => x?.[key.replace(/~1/g, "/").replace(/~0/g, "~")] as Json, this.doc);
      if (n === undefined) throw new Error(`dangling $ref ${ref}`);
    }
    return { node: n, pointer: at };
  }

  private resolve(node: unknown): Json {
    return this.locate(node, "").node;
  }

  /** A validator for the schema at `pointer` in the document (refs inside it resolve against the document). */
  private validatorFor(pointer: string): Validator {
    let v = this.validator.get(pointer);
    if (!v) {
      v = new Validator({ $ref: `${BASE}#${pointer}` } as Schema, "2020-12", false);
      v.addSchema(this.doc as Schema, BASE);
      this.validator.set(pointer, v);
    }
    return v;
  }

  /** The operation a request reaches: its path template and operation, or why there is none. */
  match(method: string, url: string): { path?: string; item?: Json; operation?: Json; pointer?: string } {
    const path = new URL(url).pathname;
    const t = this.templates.find((x) => x.pattern.test(path));
    if (!t) return {};
    const m = (method.toUpperCase() === "HEAD" ? "get" : method.toLowerCase()) as (typeof METHODS)[number];
    const operation = METHODS.includes(m) ? (t.item[m] as Json | undefined) : undefined;
    const pointer = `/paths/${t.path.replace(/~/g, "~0").replace(/\//g, "~1")}/${m}`;
    return operation ? { path: t.path, item: t.item, operation, pointer } : { path: t.path, item: t.item };
  }

  /** What is wrong with this answer according to the document; empty when nothing is. */
  check(seen: Seen): string[] {
    const { method, url, status } = seen;
    const where = `${method} ${new URL(url).pathname} → ${status}`;
    const { path, item, operation, pointer } = this.match(method, url);
    const pathname = new URL(url).pathname;
    // The identity middleware's "/v2/*" takes /v2 itself too.
    const v2 = pathname === "/v2" || pathname.startsWith("/v2/");
    // What identity (and the one onError) answer before any route is chosen.
    const early = v2 ? [401, 503, 500] : [500];
    if (!path) {
      if (status !== 404 && !early.includes(status)) return [`${where}: the document has no such path`];
      return this.checkError(seen, where);
    }
    if (!operation || !pointer) {
      const allowed = METHODS.filter((m) => item?.[m])
        .map((m) => m.toUpperCase())
        .sort();
      if (method.toUpperCase() === "OPTIONS" && seen.headers.has("access-control-allow-origin")) {
        return status === 204 ? [] : [`${where}: a CORS preflight answers 204`];
      }
      if (status === 405) {
        const allow = (seen.headers.get("allow") ?? "")
          .split(",")
          .map((s) => s.trim())
          .filter((s) => s !== "")
          .sort();
        const problems = this.checkError(seen, where);
        if (allow.join() !== allowed.join())
          problems.push(`${where}: Allow "${allow.join(", ")}", the document has ${allowed.join(", ")}`);
        return problems;
      }
      if (early.includes(status)) return this.checkError(seen, where);
      return [`${where}: the document declares no ${method} on ${path} (it has ${allowed.join(", ")})`];
    }
    const responses = operation.responses as Record<string, Json>;
    const declared = responses[String(status)];
    if (!declared) {
      return [`${where}: not declared (the document lists ${Object.keys(responses).join(", ")})`];
    }
    const at = this.locate(declared, `${pointer}/responses/${status}`);
    return this.checkResponse(seen, where, at.node, at.pointer);
  }

  private checkError(seen: Seen, where: string): string[] {
    const responses = (this.doc.components as Json).responses as Record<string, Json>;
    const declared = responses[`E${seen.status}`];
    if (!declared) return [`${where}: the document has no error response ${seen.status}`];
    return this.checkResponse(seen, where, declared, `/components/responses/E${seen.status}`);
  }

  private checkResponse(seen: Seen, where: string, response: Json, pointer: string): string[] {
    const problems: string[] = [];
    for (const [name, h] of Object.entries((response.headers as Record<string, Json>) ?? {})) {
      if (this.resolve(h).required === true && !seen.headers.has(name)) {
        problems.push(`${where}: header ${name} is required and missing`);
      }
    }
    const content = response.content as Record<string, Json> | undefined;
    const type = seen.headers.get("content-type");
    const head = seen.method.toUpperCase() === "HEAD";
    if (!content) {
      if (seen.body !== null && seen.body !== "")
        problems.push(`${where}: a body, where the document declares none`);
      return problems;
    }
    if (type === null) {
      if (!head)
        problems.push(`${where}: no Content-Type; the document has ${Object.keys(content).join(", ")}`);
      return problems;
    }
    const media = type.split(";")[0]?.trim().toLowerCase() ?? "";
    const entry = content[media];
    if (!entry) {
      problems.push(`${where}: Content-Type ${media}, the document has ${Object.keys(content).join(", ")}`);
      return problems;
    }
    if (head || seen.body === null || entry.schema === undefined) return problems;
    let instance: unknown = seen.body;
    if (media === "application/json" || media.endsWith("+json")) {
      try {
        instance = JSON.parse(seen.body);
      } catch {
        problems.push(`${where}: the body is not JSON`);
        return problems;
      }
    } else if (!media.startsWith("text/")) {
      return problems;
    }
    const escaped = media.replace(/~/g, "~0").replace(/\//g, "~1");
    const result = this.validatorFor(`${pointer}/content/${escaped}/schema`).validate(instance);
    if (!result.valid) {
      const errors = result.errors
        .filter((e) => e.keyword !== "$ref" && e.keyword !== "properties" && e.keyword !== "items")
        .slice(0, 5)
        .map((e) => `${e.instanceLocation}: ${e.error}`);
      problems.push(`${where}: the body does not match the document: ${errors.join("; ")}`);
    }
    return problems;
  }
}

/** The body of `res` for the check, read from a clone: text and JSON only, never image data. */
export async function seen(request: { method: string; url: string }, res: Response): Promise<Seen> {
  const type = res.headers.get("content-type") ?? "";
  const textual = type === "" || /^(application\/([a-z.+-]*json)|text\/)/i.test(type);
  return {
    method: request.method,
    url: request.url,
    status: res.status,
    headers: res.headers,
    body: textual ? await res.clone().text() : null,
  };
}
