import image from "../discovery/documents/image.json";
import member from "../discovery/documents/member.json";
import memberEvents from "../discovery/documents/member-events.json";
import shares from "../discovery/documents/shares.json";

/**
 * The response bodies of the OpenAPI document, taken from the schema documents the service
 * already serves under /v2/schemas (so a field added there is documented here), made exact:
 * the keys every object always has are required, and no other key may appear.
 */
export type JsonSchema = { [key: string]: unknown };

/**
 * A served schema document as a JSON Schema: Glance's `name` and `links` are hypermedia, not
 * JSON Schema keywords, so they go; `required` lists the keys the view always writes.
 */
function exact(document: JsonSchema, required: readonly string[], extra: JsonSchema = {}): JsonSchema {
  const { name: _name, links: _links, ...schema } = document;
  // Glance marks the image's base columns with `is_base`, which is no JSON Schema keyword either.
  const properties = Object.fromEntries(
    Object.entries(schema.properties as Record<string, JsonSchema>).map(([k, { is_base: _, ...p }]) => [
      k,
      p,
    ]),
  );
  schema.properties = properties;
  for (const key of required) if (!(key in properties)) throw new Error(`no property ${key} to require`);
  return { type: "object", ...schema, required: [...required], additionalProperties: false, ...extra };
}

/** The items of a served list document (`shares`, `member-events`). */
const itemsOf = (document: JsonSchema, list: string): JsonSchema =>
  ((document.properties as Record<string, JsonSchema>)[list] as { items: JsonSchema }).items;

/** docs/reference.md §5: member objects, keys as memberView writes them (`expires_at` only when set). */
const MEMBER_KEYS = ["member_id", "image_id", "status", "created_at", "updated_at", "schema"];
/** docs/reference.md §8: what imageView always writes; custom properties are the other (string) keys. */
const IMAGE_KEYS = [
  "name",
  "disk_format",
  "container_format",
  "visibility",
  "size",
  "virtual_size",
  "status",
  "checksum",
  "protected",
  "min_ram",
  "min_disk",
  "owner",
  "os_hidden",
  "os_hash_algo",
  "os_hash_value",
  "id",
  "created_at",
  "updated_at",
  "tags",
  "self",
  "file",
  "schema",
];
const SHARE_KEYS = [
  "image_id",
  "image_name",
  "image_owner",
  "image_visibility",
  "member_id",
  "status",
  "created_at",
  "updated_at",
];

const shareItem = itemsOf(shares, "shares");
const { created: _created, ...shareProperties } = shareItem.properties as Record<string, JsonSchema>;
const eventItem = itemsOf(memberEvents, "events");

/** Listing pages: `first`, `next` when the page is full, and the schema's path. */
const page = (list: string, item: string, schemaPath: string): JsonSchema => ({
  type: "object",
  properties: {
    [list]: { type: "array", items: { $ref: `#/components/schemas/${item}` } },
    first: { type: "string", description: "This listing's first page." },
    next: { type: "string", description: "The next page; present when this page is full." },
    schema: { const: schemaPath },
  },
  required: [list, "first", "schema"],
  additionalProperties: false,
});

export const SCHEMAS: Record<string, JsonSchema> = {
  Member: exact(member, MEMBER_KEYS),
  MemberList: {
    type: "object",
    properties: {
      members: { type: "array", items: { $ref: "#/components/schemas/Member" } },
      schema: { const: "/v2/schemas/members" },
    },
    required: ["members", "schema"],
    additionalProperties: false,
  },
  Image: exact(image, IMAGE_KEYS, { additionalProperties: image.additionalProperties }),
  ImageList: page("images", "Image", "/v2/schemas/images"),
  Share: {
    ...exact({ ...shareItem, properties: shareProperties }, SHARE_KEYS),
    "x-glance-edge-extension": true,
  },
  ShareList: { ...page("shares", "Share", "/v2/schemas/shares"), "x-glance-edge-extension": true },
  BulkShareResult: {
    type: "object",
    properties: {
      shares: {
        type: "array",
        items: exact(shareItem, [...SHARE_KEYS, "created"]),
      },
    },
    required: ["shares"],
    additionalProperties: false,
    "x-glance-edge-extension": true,
  },
  MemberEvent: {
    ...exact(eventItem, eventItem.required as string[]),
    "x-glance-edge-extension": true,
  },
  MemberEventList: {
    ...page("events", "MemberEvent", "/v2/schemas/member-events"),
    "x-glance-edge-extension": true,
  },
  SchemaDocument: {
    type: "object",
    description: "A Glance schema document: a JSON Schema with Glance's `name` and, for lists, `links`.",
    properties: { name: { type: "string" }, properties: { type: "object" }, links: { type: "array" } },
    required: ["name", "properties"],
  },
  Versions: {
    type: "object",
    properties: {
      versions: {
        type: "array",
        items: {
          type: "object",
          properties: {
            id: { type: "string", pattern: "^v2\\.\\d$" },
            status: { enum: ["CURRENT", "SUPPORTED"] },
            links: {
              type: "array",
              items: {
                type: "object",
                properties: { rel: { const: "self" }, href: { type: "string", format: "uri" } },
                required: ["rel", "href"],
                additionalProperties: false,
              },
            },
          },
          required: ["id", "status", "links"],
          additionalProperties: false,
        },
      },
    },
    required: ["versions"],
    additionalProperties: false,
  },
  Error: {
    type: "object",
    description:
      "The error body (docs/reference.md §2), sent when Accept lists application/json (and not text/html or */* at equal or higher quality).",
    properties: {
      message: { type: "string", description: "What went wrong, in Glance's words." },
      code: { type: "string", pattern: "^\\d{3} [A-Za-z ]+$", examples: ["404 Not Found"] },
      title: { type: "string", examples: ["Not Found"] },
    },
    required: ["message", "code", "title"],
    additionalProperties: false,
  },
  ErrorText: {
    type: "string",
    description: "The same error as plain text, for any other Accept: `<status> <reason>\\n\\n<message>\\n`.",
    pattern: "^\\d{3} [A-Za-z ]+\\n\\n",
  },
};
