import { z } from "zod";
import pkg from "../../package.json";
import { type ErrorStatus, REASONS } from "../http/errors";
import { type JsonSchema, SCHEMAS } from "./components";
import { asJson, ROUTES, type Route } from "./routes";

/**
 * The OpenAPI 3.1 document, built from the route table (src/openapi/routes.ts) with zod 4's own
 * z.toJSONSchema: OpenAPI 3.1 schemas are JSON Schema 2020-12, which zod writes natively, so no
 * OpenAPI library stands between the validators and the document. Built once per isolate.
 */

/** What each error means across routes; the operation's description says when it applies. */
const ERROR_MEANING: Record<number, string> = {
  400: "The request is malformed: a body that is not what the route takes, a bad parameter, or a body on a GET or DELETE.",
  401: "No identity: a missing, invalid or expired X-Auth-Token (or, with trusted headers, no confirmed identity or no project).",
  403: "The image's visibility or the authorization rules refuse this caller (docs/reference.md §11).",
  404: "The image (or membership) does not exist or this caller may not see it; its existence never leaks.",
  405: "The path does not take this method; Allow lists those it takes.",
  409: "A conflict: a duplicate member, an id already taken, a status that does not allow the change.",
  410: "The image was deleted while its data was being uploaded.",
  413: "The body is over the route's limit, or a quota (members, tags) would be exceeded.",
  415: "The body's Content-Type is not one this route takes.",
  429: "Too many membership writes from this project; nothing was written.",
  500: "The server failed unexpectedly; the failure is logged with the request id, never shown.",
  503: "Identity, configuration or storage cannot vouch for an answer now (fail closed); retry after Retry-After seconds.",
};

const header = (description: string, required: boolean, schema: JsonSchema = { type: "string" }) => ({
  description,
  required,
  schema,
});

const HEADERS = {
  RequestId: header("This request's id, `req-<uuid4>` or the client's own (X-Openstack-Request-Id).", true, {
    type: "string",
    pattern: "^req-[A-Za-z0-9-]+$",
  }),
  RetryAfter: header("Seconds to wait before retrying.", true, { type: "string", pattern: "^\\d+$" }),
  Allow: header("The methods this path takes.", true),
  AcceptPatch: header("The JSON-patch media types this route takes.", false),
  WwwAuthenticate: header('`Keystone uri="<Keystone URL>"` when identity comes from Keystone.', false),
  D1Bookmark: {
    ...header(
      "The D1 bookmark after this request; send it back as x-d1-bookmark to read your writes.",
      false,
    ),
    "x-glance-edge-extension": true,
  },
};

const headerRef = (name: keyof typeof HEADERS) => ({ $ref: `#/components/headers/${name}` });

/** An error response: the JSON body for Accept: application/json, plain text otherwise. */
function errorResponse(status: number): JsonSchema {
  const headers: JsonSchema = { "x-openstack-request-id": headerRef("RequestId") };
  if (status === 401) headers["WWW-Authenticate"] = headerRef("WwwAuthenticate");
  if (status === 405) headers.Allow = headerRef("Allow");
  if (status === 415) headers["Accept-Patch"] = headerRef("AcceptPatch");
  if (status === 429 || status === 503) headers["Retry-After"] = headerRef("RetryAfter");
  return {
    description: `${REASONS[status as ErrorStatus]}: ${ERROR_MEANING[status]}`,
    headers,
    content: {
      "application/json": { schema: { $ref: "#/components/schemas/Error" } },
      "text/plain": { schema: { $ref: "#/components/schemas/ErrorText" } },
    },
  };
}

/** The statuses every route of a kind may answer, besides its own. */
export function errorStatuses(route: Route): number[] {
  const v2 = route.path.startsWith("/v2/");
  const all = new Set<number>([
    ...route.errors,
    ...(route.jsonBody ? [400, 413] : []),
    ...(v2 ? [401, 503] : []),
    500,
  ]);
  return [...all].sort((a, b) => a - b);
}

/** `{name}` path parameters, queries and headers from a validator's zod object. */
function parameters(route: Route): JsonSchema[] {
  const out: JsonSchema[] = [];
  const from = (schema: z.ZodObject | undefined, where: "path" | "query" | "header") => {
    if (!schema) return;
    const json = asJson(schema);
    const required = new Set((json.required as string[] | undefined) ?? []);
    for (const [name, property] of Object.entries(json.properties as Record<string, JsonSchema>)) {
      // Content-Length is the transport's; OpenAPI leaves it out of parameters.
      if (where === "header" && name.toLowerCase() === "content-length") continue;
      const description = route.describe?.[name];
      out.push({
        name,
        in: where,
        required: where === "path" || required.has(name),
        ...(description ? { description } : {}),
        schema: property,
      });
    }
  };
  from(route.params, "path");
  from(route.query, "query");
  from(route.headers, "header");
  out.push({ $ref: "#/components/parameters/RequestId" });
  if (route.path.startsWith("/v2/")) out.push({ $ref: "#/components/parameters/D1Bookmark" });
  return out;
}

/** A schema that may hold zod schemas anywhere inside, as JSON Schema throughout. */
function deepJson(node: unknown): JsonSchema {
  if (node instanceof z.ZodType) return asJson(node);
  if (Array.isArray(node)) return node.map(deepJson) as unknown as JsonSchema;
  if (typeof node !== "object" || node === null) return node as JsonSchema;
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, deepJson(v)]));
}

function requestBody(route: Route): JsonSchema | undefined {
  const body = route.body;
  if (!body) return undefined;
  const content: JsonSchema = {};
  for (const [mediaType, schema] of Object.entries(body.content)) {
    content[mediaType] = {
      schema: deepJson(schema),
      ...(mediaType === Object.keys(body.content)[0] ? { example: body.example } : {}),
    };
  }
  return { required: true, ...(body.description ? { description: body.description } : {}), content };
}

function responses(route: Route): JsonSchema {
  const v2 = route.path.startsWith("/v2/");
  const out: JsonSchema = {};
  for (const s of route.success) {
    const headers: JsonSchema = route.staticAsset ? {} : { "x-openstack-request-id": headerRef("RequestId") };
    if (v2) headers["x-d1-bookmark"] = headerRef("D1Bookmark");
    for (const [name, h] of Object.entries(s.headers ?? {})) {
      headers[name] = {
        description: h.description,
        required: h.required,
        schema: h.schema ?? { type: "string" },
      };
    }
    const content =
      s.body === undefined
        ? undefined
        : typeof s.body === "string"
          ? { "application/json": { schema: { $ref: `#/components/schemas/${s.body}` } } }
          : { [s.body.mediaType]: { schema: s.body.schema } };
    out[String(s.status)] = { description: s.description, headers, ...(content ? { content } : {}) };
  }
  for (const status of errorStatuses(route))
    out[String(status)] = { $ref: `#/components/responses/E${status}` };
  return out;
}

const IDENTITY = [{ keystone: [] }, { identityStatus: [], projectId: [], roles: [] }];

const DESCRIPTION = `OpenStack Glance's Image API v2 (images, data, tags, actions and image sharing) on Cloudflare Workers, D1 and R2, answering as Glance 25 does, with a few extensions marked \`x-glance-edge-extension\`.

**Identity.** Every \`/v2\` route needs a Keystone token in \`X-Auth-Token\`. A development or gateway deployment (\`AUTH_STRATEGY=trusted-headers\`, as \`npm start\` runs) instead trusts keystonemiddleware's headers \`X-Identity-Status: Confirmed\`, \`X-Project-Id\` and \`X-Roles\`.

**Errors** are negotiated on \`Accept\` as Glance does: \`application/json\` gets \`{"message", "code", "title"}\`, anything else (\`*/*\` included) the same as plain text. Every response carries \`x-openstack-request-id\`.

**Every path** also answers \`HEAD\` where it answers \`GET\`, and **405** with \`Allow\` to a method it does not take; a path not listed here answers **404**. Both have the error body above.

The behaviour behind each route, and why a request got the answer it got, is in the repository's \`docs/reference.md\` (sections cited as §N).`;

const TAGS = [
  { name: "Discovery", description: "Versions and this document; no authentication." },
  { name: "Schemas", description: "The JSON schema documents clients validate responses against." },
  { name: "Images", description: "Image records." },
  { name: "Image data", description: "Image data in and out (R2)." },
  { name: "Image actions", description: "Deactivate and reactivate." },
  { name: "Image tags", description: "Tags one at a time." },
  { name: "Members", description: "Sharing one image with one project: Glance's image members API." },
  {
    name: "Sharing",
    description: "Sharing beyond Glance: listings, bulk sharing and the audit trail.",
    "x-glance-edge-extension": true,
  },
];

function build(): JsonSchema {
  const paths: Record<string, JsonSchema> = {};
  for (const route of ROUTES) {
    const v2 = route.path.startsWith("/v2/");
    const body = requestBody(route);
    const operation: JsonSchema = {
      operationId: route.operationId,
      tags: [route.tag],
      summary: route.summary,
      description: `${route.description}\n\nBehaviour: docs/reference.md ${route.section}.`,
      parameters: parameters(route),
      ...(body ? { requestBody: body } : {}),
      responses: responses(route),
      security: v2 ? IDENTITY : [],
      ...(route.extension ? { "x-glance-edge-extension": true } : {}),
    };
    paths[route.path] = { ...(paths[route.path] ?? {}), [route.method]: operation };
  }
  return {
    openapi: "3.1.1",
    info: {
      title: "glance-edge: OpenStack Image API v2",
      version: pkg.version,
      summary: "Glance's Image API v2 on Cloudflare Workers, with image sharing beyond Glance.",
      description: DESCRIPTION,
    },
    jsonSchemaDialect: "https://spec.openapis.org/oas/3.1/dialect/base",
    servers: [{ url: "/", description: "This service" }],
    security: IDENTITY,
    tags: TAGS,
    paths,
    components: {
      schemas: SCHEMAS,
      responses: Object.fromEntries(Object.keys(REASONS).map((s) => [`E${s}`, errorResponse(Number(s))])),
      headers: HEADERS,
      parameters: {
        RequestId: {
          name: "X-Openstack-Request-Id",
          in: "header",
          required: false,
          description:
            "Your own request id: reused (prefixed `req-`) when at most 64 characters of [A-Za-z0-9-].",
          schema: { type: "string" },
        },
        D1Bookmark: {
          name: "x-d1-bookmark",
          in: "header",
          required: false,
          description: "A bookmark from an earlier response: this request reads at least what that one saw.",
          schema: { type: "string" },
          "x-glance-edge-extension": true,
        },
      },
      securitySchemes: {
        keystone: {
          type: "apiKey",
          in: "header",
          name: "X-Auth-Token",
          description:
            "A Keystone v3 token, validated against Keystone (AUTH_STRATEGY=keystone, the default).",
        },
        identityStatus: {
          type: "apiKey",
          in: "header",
          name: "X-Identity-Status",
          description: "AUTH_STRATEGY=trusted-headers only (development, or behind a gateway): `Confirmed`.",
        },
        projectId: {
          type: "apiKey",
          in: "header",
          name: "X-Project-Id",
          description: "AUTH_STRATEGY=trusted-headers only: the caller's project.",
        },
        roles: {
          type: "apiKey",
          in: "header",
          name: "X-Roles",
          description:
            "AUTH_STRATEGY=trusted-headers only: the caller's roles, comma separated (e.g. `member,reader`).",
        },
      },
    },
  };
}

let built: JsonSchema | undefined;

/** The document, its server being `base` (PUBLIC_ENDPOINT or the request's origin) when given. */
export function openApiDocument(base?: string): JsonSchema {
  built ??= build();
  if (base === undefined) return built;
  return { ...built, servers: [{ url: base, description: "This service" }] };
}

/** Operations by method and path, for the contract check and the route-table test. */
export const OPERATIONS = ROUTES.map((r) => ({ method: r.method, path: r.path }));
