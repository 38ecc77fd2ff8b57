import { z } from "zod";
import {
  createImageBody,
  imageIdParam,
  imageParam,
  listQuery,
  patchBodyV21,
  UUID,
  uploadHeaders,
  writableFields,
} from "../images/schemas";
import { memberEventsQuery } from "../member-events/schemas";
import {
  addMemberBody,
  MEMBER_STATUSES,
  memberId,
  memberParams,
  imageParams as membersImageParams,
  patchMemberBody,
  updateMemberBody,
} from "../members/schemas";
import { bulkShareBody, MAX_BULK, sharesQuery } from "../shares/schemas";
import type { JsonSchema } from "./components";

/**
 * Every route of the app, as the OpenAPI document tells it. Inputs are the zod schemas the
 * routes' validators use; where a validator takes any JSON on purpose (to answer in the order and
 * words of the behaviour reference), `body.schema` says the shape it accepts and `body.validator`
 * is checked to accept the example (test/openapi/document.test.ts). test/openapi/routes.test.ts
 * compares this table with the app's registered routes, so neither can drift from the other.
 */
export type Method = "get" | "post" | "put" | "patch" | "delete";

export interface Body {
  /** Media type → the schema of what is accepted. */
  content: Record<string, JsonSchema | z.ZodType>;
  // (zod schemas may also sit inside a JSON Schema here; the document converts them all.)
  /** The zod schema the route validates with (accepts `example`), when there is one. */
  validator?: z.ZodType;
  example: unknown;
  description?: string;
}

export interface Success {
  status: number;
  description: string;
  /** A component schema name (application/json), or raw content. */
  body?: string | { mediaType: string; schema: JsonSchema };
  headers?: Record<string, { description: string; required: boolean; schema?: JsonSchema }>;
}

export interface Route {
  method: Method;
  /** OpenAPI template, e.g. /v2/images/{image_id}/members. */
  path: string;
  operationId: string;
  tag: string;
  summary: string;
  description: string;
  /** The behaviour reference's section (docs/reference.md). */
  section: string;
  /** Not in Glance: a glance-edge extension (x-glance-edge-extension). */
  extension?: boolean;
  /** Path parameters as validated. */
  params?: z.ZodObject;
  query?: z.ZodObject;
  headers?: z.ZodObject;
  /** Descriptions of parameters, by name. */
  describe?: Record<string, string>;
  body?: Body;
  /** Answered by the asset layer before the Worker runs (wrangler.toml [assets]): no request id. */
  staticAsset?: boolean;
  /** Takes a JSON body (jsonBody): 400 for a malformed or unexpected body, 413 over the limit. */
  jsonBody?: boolean;
  success: Success[];
  /** Error statuses besides those every route of its kind has (see document.ts). */
  errors: number[];
}

const IMAGE_ID = "The image's id. One that is not a UUID is simply not found (404).";
const MEMBER_ID = "The member's project id, compared exactly (case-sensitive, not trimmed).";
const describeIds = { image_id: IMAGE_ID, member_id: MEMBER_ID };

/** docs/reference.md §2's timestamp, as expires_at takes it. */
const expiry = {
  type: ["string", "null"],
  format: "date-time",
  pattern: "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z$",
  description: "UTC, YYYY-MM-DDThh:mm:ssZ, strictly in the future and at most 10 years ahead; null: never.",
};
/** A member id as validators check it; the refinements (length in code points, no control characters) spelt out. */
const memberIdSchema = memberId.meta({
  maxLength: 255,
  pattern: "^[^\\u0000-\\u001f\\u007f-\\u009f]*$",
  description: "A project id: 1–255 characters, no control characters.",
});

const tagParams = z.object({ image_id: imageIdParam, tag: writableFields.tags.element });

/** What POST /v2/images accepts: the writable fields, custom properties as strings, and an id. */
const imageCreate = z
  .object(writableFields)
  .partial()
  .extend({ id: z.string().regex(UUID).optional() })
  .catchall(z.string().max(65535));

const patchV21 = z.array(
  z.object({
    op: z.enum(["add", "replace", "remove"]),
    path: z.string().regex(/^\/[^/]+$/),
    value: z.unknown().optional(),
  }),
);
const patchV20 = z.array(
  z.union([
    z.object({ add: z.string(), value: z.unknown() }),
    z.object({ replace: z.string(), value: z.unknown() }),
    z.object({ remove: z.string() }),
  ]),
);

const ok = (status: number, description: string, body?: Success["body"]): Success => ({
  status,
  description,
  ...(body === undefined ? {} : { body }),
});

export const ROUTES: Route[] = [
  // ---- discovery (no authentication) ----
  {
    method: "get",
    path: "/",
    operationId: "listVersionsRoot",
    tag: "Discovery",
    summary: "API versions (300 Multiple Choices)",
    description:
      "The versions this service speaks, as Glance answers its root: 300 with the same body as /versions.",
    section: "§7",
    success: [ok(300, "The versions, v2.5 current.", "Versions")],
    errors: [],
  },
  {
    method: "get",
    path: "/versions",
    operationId: "listVersions",
    tag: "Discovery",
    summary: "API versions",
    description:
      "v2.5 CURRENT, then v2.4 … v2.0 SUPPORTED; each links to `<base>/v2/` (PUBLIC_ENDPOINT, else the request's origin).",
    section: "§7",
    success: [ok(200, "The versions, v2.5 current.", "Versions")],
    errors: [],
  },
  {
    method: "get",
    path: "/openapi.json",
    operationId: "getOpenApiDocument",
    tag: "Discovery",
    summary: "This OpenAPI document",
    description:
      "The OpenAPI 3.1 document of every route, generated from the schemas the routes validate with.",
    section: "§7",
    extension: true,
    success: [ok(200, "The document.", { mediaType: "application/json", schema: { type: "object" } })],
    errors: [],
  },
  {
    method: "get",
    path: "/docs",
    operationId: "getApiReference",
    tag: "Discovery",
    summary: "This document as a browsable page",
    description:
      "An HTML page that renders /openapi.json. Its scripts and styles come from this service only (a Content-Security-Policy forbids other origins), so it works offline.",
    section: "§7",
    extension: true,
    success: [ok(200, "The page.", { mediaType: "text/html", schema: { type: "string" } })],
    errors: [],
  },
  ...(
    [
      [
        "/docs/scalar.js",
        "getApiReferenceScript",
        "The page's script: Scalar's API reference, served by this Worker",
      ],
      ["/docs/init.js", "getApiReferenceConfiguration", "The page's configuration of Scalar"],
    ] as const
  ).map(
    ([path, operationId, summary]): Route => ({
      method: "get",
      path,
      operationId,
      tag: "Discovery",
      summary,
      description: "Part of GET /docs, so that the page needs no other origin.",
      section: "§7",
      extension: true,
      staticAsset: path === "/docs/scalar.js",
      success: [ok(200, "The script.", { mediaType: "text/javascript", schema: { type: "string" } })],
      errors: [],
    }),
  ),
  // ---- schema documents ----
  ...(["member", "members", "image", "images", "shares", "member-events"] as const).map(
    (name): Route => ({
      method: "get",
      path: `/v2/schemas/${name}`,
      operationId: `getSchema${name
        .split("-")
        .map((w) => (w[0] ?? "").toUpperCase() + w.slice(1))
        .join("")}`,
      tag: "Schemas",
      summary: `The ${name} schema document`,
      description:
        name === "shares" || name === "member-events"
          ? `The JSON schema of the ${name} listing.`
          : `Glance's ${name} schema document; python-glanceclient validates what it receives against it.`,
      section: "§6",
      extension: name === "shares" || name === "member-events",
      success: [ok(200, "The schema document.", "SchemaDocument")],
      errors: [],
    }),
  ),
  // ---- images ----
  {
    method: "get",
    path: "/v2/images",
    operationId: "listImages",
    tag: "Images",
    summary: "List images",
    description:
      "The images the caller may see, newest first, 25 a page (`limit` at most 1000). Keys the query does not name filter on custom properties (`?os_distro=debian`). Members see shared and private images whose membership matches `member_status` (default `accepted`).",
    section: "§8.3",
    query: listQuery,
    describe: {
      limit: "Page size; default 25, at most 1000.",
      marker: "The id of the last image of the previous page (from `next`). Unknown: 400.",
      visibility: "Only this visibility; `all` includes others' community images.",
      member_status: "Memberships in this status; default `accepted`. Does not restrict admins.",
      sort: "`key:dir,…`, e.g. `name:asc,created_at:desc`.",
      sort_key: "Sort key (repeatable).",
      sort_dir: "`asc` or `desc` (repeatable, one per sort_key).",
      tag: "Only images with this tag (repeatable: all of them).",
      os_hidden: "`true` lists hidden images too.",
    },
    jsonBody: true,
    success: [ok(200, "A page of images.", "ImageList")],
    errors: [403],
  },
  {
    method: "post",
    path: "/v2/images",
    operationId: "createImage",
    tag: "Images",
    summary: "Create an image",
    description:
      "A new `queued` image owned by the caller's project, `shared` unless asked otherwise. Read-only fields answer 403 `Attribute '<name>' is read-only.`, Glance's `os_glance_*` namespace 403 `… is reserved.`, `public` for a non-admin 403; an id that exists or ever existed 409.",
    section: "§8",
    body: {
      content: { "application/json": imageCreate },
      validator: createImageBody,
      example: { name: "debian-13", disk_format: "qcow2", container_format: "bare", os_distro: "debian" },
    },
    jsonBody: true,
    success: [
      {
        ...ok(201, "The image.", "Image"),
        headers: {
          Location: { description: "The image's URL.", required: true, schema: { type: "string" } },
        },
      },
    ],
    errors: [403, 409],
  },
  {
    method: "get",
    path: "/v2/images/{image_id}",
    operationId: "showImage",
    tag: "Images",
    summary: "Show an image",
    description: "The image, if the caller may see it; else 404 `No image found with ID {image_id}`.",
    section: "§8",
    params: imageParam,
    describe: describeIds,
    jsonBody: true,
    success: [ok(200, "The image.", "Image")],
    errors: [403, 404],
  },
  {
    method: "patch",
    path: "/v2/images/{image_id}",
    operationId: "updateImage",
    tag: "Images",
    summary: "Update an image (JSON patch)",
    description:
      "Glance's JSON-patch media types only (others: 415 with Accept-Patch). Owner or admin; 409 when a `replace`/`remove` names a property that does not exist, or the image changed meanwhile three times over.",
    section: "§8",
    params: imageParam,
    describe: describeIds,
    body: {
      content: {
        "application/openstack-images-v2.1-json-patch": patchV21,
        "application/openstack-images-v2.0-json-patch": patchV20,
      },
      validator: patchBodyV21,
      example: [{ op: "replace", path: "/name", value: "debian-13-genericcloud" }],
    },
    jsonBody: true,
    success: [ok(200, "The image after the change.", "Image")],
    errors: [403, 404, 409, 415],
  },
  {
    method: "delete",
    path: "/v2/images/{image_id}",
    operationId: "deleteImage",
    tag: "Images",
    summary: "Delete an image",
    description:
      "Owner or admin; a protected image answers 403. Its members and data go with it; its id stays reserved for good.",
    section: "§8",
    params: imageParam,
    describe: describeIds,
    jsonBody: true,
    success: [ok(204, "Deleted.")],
    errors: [403, 404],
  },
  {
    method: "put",
    path: "/v2/images/{image_id}/file",
    operationId: "uploadImageData",
    tag: "Image data",
    summary: "Upload image data",
    description:
      "Into a `queued` image whose disk and container formats are set; sets size, checksum (md5), os_hash_algo `sha512`, os_hash_value and status `active`. 409 for another status, 410 when the image was deleted during the upload.",
    section: "§8",
    params: imageParam,
    headers: uploadHeaders,
    describe: { ...describeIds, "content-length": "The data's length; absent for a chunked upload." },
    body: {
      content: {
        "application/octet-stream": { type: "string", contentMediaType: "application/octet-stream" },
      },
      example: "<bytes>",
    },
    success: [ok(204, "Stored; the image is active.")],
    errors: [400, 403, 404, 409, 410, 413, 415],
  },
  {
    method: "get",
    path: "/v2/images/{image_id}/file",
    operationId: "downloadImageData",
    tag: "Image data",
    summary: "Download image data",
    description: "The data; 204 while the image has none.",
    section: "§8",
    params: imageParam,
    describe: describeIds,
    success: [
      {
        ...ok(200, "The data.", {
          mediaType: "application/octet-stream",
          schema: { type: "string", contentMediaType: "application/octet-stream" },
        }),
        headers: {
          "Content-MD5": {
            description: "The data's MD5 as hex (Glance's form, which python-glanceclient checks).",
            required: false,
            schema: { type: "string" },
          },
        },
      },
      ok(204, "The image has no data (yet)."),
    ],
    errors: [403, 404],
  },
  ...(["deactivate", "reactivate"] as const).map(
    (action): Route => ({
      method: "post",
      path: `/v2/images/{image_id}/actions/${action}`,
      operationId: `${action}Image`,
      tag: "Image actions",
      summary: `${action[0]?.toUpperCase()}${action.slice(1)} an image`,
      description:
        action === "deactivate"
          ? "An active image becomes `deactivated`: only admins may download it. Already deactivated: 204 without a change; another status: 403."
          : "A deactivated image becomes `active` again. Already active: 204 without a change; another status: 403.",
      section: "§8",
      params: imageParam,
      describe: describeIds,
      success: [ok(204, "Done (or already so).")],
      errors: [403, 404],
    }),
  ),
  {
    method: "put",
    path: "/v2/images/{image_id}/tags/{tag}",
    operationId: "addImageTag",
    tag: "Image tags",
    summary: "Add a tag",
    description: "Idempotent; at most 128 tags an image (413).",
    section: "§8",
    params: tagParams,
    describe: { ...describeIds, tag: "The tag, at most 255 characters." },
    success: [ok(204, "The image has the tag.")],
    errors: [400, 403, 404, 413],
  },
  {
    method: "delete",
    path: "/v2/images/{image_id}/tags/{tag}",
    operationId: "deleteImageTag",
    tag: "Image tags",
    summary: "Remove a tag",
    description: "404 when the image does not have it.",
    section: "§8",
    params: tagParams,
    describe: { ...describeIds, tag: "The tag." },
    success: [ok(204, "The tag is gone.")],
    errors: [403, 404],
  },
  // ---- members ----
  {
    method: "get",
    path: "/v2/images/{image_id}/members",
    operationId: "listMembers",
    tag: "Members",
    summary: "List an image's members",
    description:
      "Owner and admin see every member; a member sees only its own row. Public and community images have no members: 403.",
    section: "§5.2",
    params: membersImageParams,
    describe: describeIds,
    jsonBody: true,
    success: [ok(200, "The members, by created_at then member_id.", "MemberList")],
    errors: [403, 404],
  },
  {
    method: "post",
    path: "/v2/images/{image_id}/members",
    operationId: "addMember",
    tag: "Members",
    summary: "Add a member",
    description:
      "Owner or admin shares a shared or private image with a project: a `pending` membership. 409 if it is a member already, 413 past the member quota (IMAGE_MEMBER_QUOTA, default 128). 200, not 201, as in Glance. `expires_at` is a glance-edge extension.",
    section: "§5.1",
    params: membersImageParams,
    describe: describeIds,
    body: {
      content: {
        "application/json": {
          type: "object",
          properties: {
            member_id: memberIdSchema,
            member: {
              ...asJson(memberIdSchema),
              deprecated: true,
              description: "Glance's name; member_id wins.",
            },
            expires_at: { ...expiry, "x-glance-edge-extension": true },
          },
          anyOf: [{ required: ["member_id"] }, { required: ["member"] }],
        },
      },
      validator: addMemberBody,
      example: { member_id: "8989447062e04a818baf9e073fd04fa7" },
      description: "Other keys are ignored. Parsed as JSON whatever the Content-Type; at most 64 KiB.",
    },
    jsonBody: true,
    success: [ok(200, "The new membership, `pending`.", "Member")],
    errors: [403, 404, 409, 429],
  },
  {
    method: "get",
    path: "/v2/images/{image_id}/members/{member_id}",
    operationId: "showMember",
    tag: "Members",
    summary: "Show a membership",
    description: "Owner, admin, or that member. Another member's row is not found (404).",
    section: "§5.3",
    params: memberParams,
    describe: describeIds,
    jsonBody: true,
    success: [ok(200, "The membership.", "Member")],
    errors: [403, 404],
  },
  {
    method: "put",
    path: "/v2/images/{image_id}/members/{member_id}",
    operationId: "updateMember",
    tag: "Members",
    summary: "Accept or reject a share",
    description:
      "The member (or an admin) sets its status; the owner may not (403), even for a member id that does not exist. Any transition is allowed.",
    section: "§5.4",
    params: memberParams,
    describe: describeIds,
    body: {
      content: {
        "application/json": {
          type: "object",
          properties: { status: { enum: [...MEMBER_STATUSES] } },
          required: ["status"],
        },
      },
      validator: updateMemberBody,
      example: { status: "accepted" },
      description: "Other keys (clients send `member`) are ignored.",
    },
    jsonBody: true,
    success: [ok(200, "The membership, updated_at moved.", "Member")],
    errors: [403, 404, 429],
  },
  {
    method: "patch",
    path: "/v2/images/{image_id}/members/{member_id}",
    operationId: "setMemberExpiry",
    tag: "Members",
    summary: "Set or clear a membership's expiry",
    description:
      "Rule `set_member_expiry` (default as `add_member`). From `expires_at` on, the membership is gone for every purpose.",
    section: "§12.1",
    extension: true,
    params: memberParams,
    describe: describeIds,
    body: {
      content: {
        "application/json": {
          type: "object",
          properties: { expires_at: expiry },
          required: ["expires_at"],
          additionalProperties: false,
        },
      },
      validator: patchMemberBody,
      example: { expires_at: "2030-01-01T00:00:00Z" },
    },
    jsonBody: true,
    success: [ok(200, "The membership.", "Member")],
    errors: [403, 404, 429],
  },
  {
    method: "delete",
    path: "/v2/images/{image_id}/members/{member_id}",
    operationId: "deleteMember",
    tag: "Members",
    summary: "Remove a member",
    description: "Owner or admin; a member cannot remove itself (403).",
    section: "§5.5",
    params: memberParams,
    describe: describeIds,
    jsonBody: true,
    success: [ok(204, "Removed.")],
    errors: [403, 404, 429],
  },
  // ---- sharing beyond Glance ----
  {
    method: "get",
    path: "/v2/shares",
    operationId: "listShares",
    tag: "Sharing",
    summary: "What was shared with whom",
    description:
      "Memberships across images: what the caller's project received (any status) and what it shared; an admin sees all. Ordered by created_at, image_id, member_id. Rule `get_shares`.",
    section: "§12.2",
    extension: true,
    query: sharesQuery,
    describe: {
      member_id: "Only this member.",
      owner: "Only images of this owner.",
      image_id: "Only this image.",
      status: "`pending`, `accepted`, `rejected` or `all` (default).",
      limit: "Page size; default 25, at most 1000.",
      marker: "Opaque, from `next`.",
    },
    jsonBody: true,
    success: [ok(200, "A page of shares.", "ShareList")],
    errors: [403],
  },
  {
    method: "post",
    path: "/v2/shares",
    operationId: "shareImages",
    tag: "Sharing",
    summary: "Share many images with many projects",
    description:
      "Every (image, member) pair that is not a membership yet becomes a `pending` one, all or nothing: the first image that refuses answers (404, 403 or 413) and nothing is written.",
    section: "§12.3",
    extension: true,
    body: {
      content: {
        "application/json": {
          type: "object",
          properties: {
            images: { type: "array", items: { type: "string" }, minItems: 1, maxItems: MAX_BULK },
            members: { type: "array", items: asJson(memberIdSchema), minItems: 1, maxItems: MAX_BULK },
            expires_at: expiry,
          },
          required: ["images", "members"],
          additionalProperties: false,
        },
      },
      validator: bulkShareBody,
      example: {
        images: ["1bea47ed-f6a9-463b-b423-14b9cca9ad27"],
        members: ["8989447062e04a818baf9e073fd04fa7", "a1b2c3d4e5f60718293a4b5c6d7e8f90"],
      },
      description: "Duplicates in a list are ignored; unknown keys answer 400.",
    },
    jsonBody: true,
    success: [ok(200, "Each pair in request order, and whether this call created it.", "BulkShareResult")],
    errors: [403, 404, 429],
  },
  {
    method: "get",
    path: "/v2/member-events",
    operationId: "listMemberEvents",
    tag: "Sharing",
    summary: "Who did what to which membership",
    description:
      "The audit trail, newest first: records where the caller's project is the member or was the image's owner; an admin sees all. Rule `get_member_events`.",
    section: "§12.4",
    extension: true,
    query: memberEventsQuery,
    describe: {
      image_id: "Only this image.",
      member_id: "Only this member.",
      action: "`create`, `update`, `expire`, `delete` or `image-delete`.",
      since: "Only records at or after this time (YYYY-MM-DDThh:mm:ssZ).",
      limit: "Page size; default 25, at most 1000.",
      marker: "Opaque, from `next`.",
    },
    jsonBody: true,
    success: [ok(200, "A page of records.", "MemberEventList")],
    errors: [403],
  },
];

/** A zod schema as JSON Schema, as the request side of a validator sees it. */
export function asJson(schema: z.ZodType): JsonSchema {
  const { $schema: _, ...json } = z.toJSONSchema(schema, {
    io: "input",
    unrepresentable: "any",
    target: "draft-2020-12",
  }) as JsonSchema;
  return json;
}
