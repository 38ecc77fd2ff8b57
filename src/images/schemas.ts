import { z } from "zod";
import { ApiError } from "../http/errors";

export const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/**
 * An image id from the path: the raw text (for messages) and its canonical lower-case form,
 * or null when it cannot be an image id. A malformed id is simply not found (docs/reference.md §4), so it
 * is not a validation error here.
 */
export const imageIdParam = z.string().transform((raw) => ({
  raw,
  id: UUID.test(raw) ? raw.toLowerCase() : null,
}));
export type ImageIdParam = z.output<typeof imageIdParam>;
export const imageParam = z.object({ image_id: imageIdParam });

export const VISIBILITIES = ["public", "community", "shared", "private"] as const;
/** An image's visibility: what a client may write and, by the table's CHECK, what a row holds. */
export type Visibility = (typeof VISIBILITIES)[number];
const CONTAINER_FORMATS = ["ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"] as const;
const DISK_FORMATS = [
  "ami",
  "ari",
  "aki",
  "vhd",
  "vhdx",
  "vmdk",
  "raw",
  "qcow2",
  "vdi",
  "iso",
  "ploop",
] as const;

/** Fields clients may never set (spec/schemas/image.json readOnly, plus Glance's disallowed). */
export const READ_ONLY = new Set([
  "status",
  "checksum",
  "os_hash_algo",
  "os_hash_value",
  "size",
  "virtual_size",
  "created_at",
  "updated_at",
  "direct_url",
  "self",
  "file",
  "stores",
  "schema",
]);
/** Glance's reserved attributes, and locations, which this service does not offer. */
export const RESERVED = new Set(["location", "deleted", "deleted_at", "locations"]);
/**
 * Glance's own namespace (glance/api/common.py GLANCE_RESERVED_NS): properties whose names
 * start with it (import state, staging host, …) are set by Glance alone and trusted by clients.
 * A prefix without the underscore, as Glance compares it: `os_glancefoo` is reserved too.
 */
export const RESERVED_NAMESPACE = "os_glance";

const uuidOrNull = z.string().regex(UUID, "does not match the UUID pattern").nullable();
const int32 = z
  .number()
  .int()
  .min(0)
  .max(2 ** 31 - 1);

/** The writable image fields and their types, from spec/schemas/image.json. */
export const writableFields = {
  name: z.string().max(255).nullable(),
  visibility: z.enum(VISIBILITIES),
  protected: z.boolean(),
  os_hidden: z.boolean(),
  container_format: z.enum(CONTAINER_FORMATS).nullable(),
  disk_format: z.enum(DISK_FORMATS).nullable(),
  tags: z.array(z.string().max(255)).max(128),
  min_ram: int32,
  min_disk: int32,
  owner: z.string().max(255).nullable(),
  kernel_id: uuidOrNull,
  ramdisk_id: uuidOrNull,
  instance_uuid: z.string(),
  architecture: z.string(),
  os_distro: z.string(),
  os_version: z.string(),
  description: z.string(),
  cinder_encryption_key_id: z.string(),
  cinder_encryption_key_deletion_policy: z.enum(["on_image_deletion", "do_not_delete"]),
};

/** The "base" columns of the images table; everything else writable is a custom property. */
export const BASE_COLUMNS = [
  "name",
  "visibility",
  "protected",
  "os_hidden",
  "container_format",
  "disk_format",
  "tags",
  "min_ram",
  "min_disk",
  "owner",
] as const;

const propertyKey = z.string().min(1).max(255);

/** A complete image document as a client may write it: checked after create and after PATCH. */
export const imageDocument = z
  .object(writableFields)
  .partial()
  .catchall(z.string().max(65535))
  .superRefine((doc, ctx) => {
    const keys = Object.keys(doc);
    if (keys.length > 160) ctx.addIssue({ code: "custom", message: "too many properties" });
    for (const k of keys)
      if (!propertyKey.safeParse(k).success)
        ctx.addIssue({ code: "custom", message: `invalid property name ${JSON.stringify(k)}` });
  });
export type ImageDocument = z.output<typeof imageDocument>;

/** Validates a whole image document (or one attribute of it) the way Glance does after its read-only checks. */
export function checkDocument(doc: unknown): ImageDocument {
  const parsed = imageDocument.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
    throw new ApiError(
      400,
      `Provided object does not match schema 'image': ${where}${issue?.message ?? "invalid"}`,
    );
  }
  return parsed.data;
}

const notAnObject = "Provided object does not match schema 'image': the body must be a JSON object";

/** POST /v2/images: an object; read-only and reserved keys are 403s decided by the rules. */
export const createImageBody = z
  .custom<Record<string, unknown>>((v) => typeof v === "object" && v !== null && !Array.isArray(v), {
    error: notAnObject,
  })
  .and(
    z
      .object({
        id: z
          .string()
          .regex(UUID, "Provided object does not match schema 'image': id does not match the UUID pattern")
          .optional(),
      })
      .loose(),
  );

/** PATCH body: a JSON-patch document of add/replace/remove operations. */
const OPS = ["add", "remove", "replace"] as const;
export type PatchOp =
  | { op: "add" | "replace"; path: string; value: unknown }
  | { op: "remove"; path: string };

/** One change of either media type, already in the {op, path[, value]} form. */
function patchOp(op: string, path: unknown, raw: Record<string, unknown>, ctx: z.RefinementCtx): PatchOp {
  if (typeof path !== "string") {
    ctx.addIssue({
      code: "custom",
      message: "Json path should start with a '/', end with no '/', no 2 subsequent '/' are allowed.",
    });
    return z.NEVER;
  }
  if (op === "remove") return { op, path };
  if (!("value" in raw)) {
    ctx.addIssue({ code: "custom", message: `Operation "${op}" requires a member named "value".` });
    return z.NEVER;
  }
  return { op: op as "add" | "replace", path, value: raw.value };
}

const change = z.custom<Record<string, unknown>>(
  (v) => typeof v === "object" && v !== null && !Array.isArray(v),
  { error: "Operations must be JSON objects." },
);
const changes = (item: z.ZodType<PatchOp>) =>
  z.array(item, { error: "Request body must be a JSON array of operation objects." });

/** application/openstack-images-v2.1-json-patch: RFC 6902's {"op", "path", "value"}. */
export const patchBodyV21 = changes(
  change.transform((raw, ctx) => {
    const op = raw.op;
    if (op === undefined) {
      ctx.addIssue({
        code: "custom",
        message: `Unable to find \`op\` in JSON Schema change. It must be one of the following: ${OPS.join(", ")}.`,
      });
      return z.NEVER;
    }
    if (typeof op !== "string" || !(OPS as readonly string[]).includes(op)) {
      ctx.addIssue({
        code: "custom",
        message: `Invalid operation: \`${String(op)}\`. It must be one of the following: ${OPS.join(", ")}.`,
      });
      return z.NEVER;
    }
    return patchOp(op, raw.path, raw, ctx);
  }),
);

/** application/openstack-images-v2.0-json-patch: Glance's older {"<op>": "<path>", "value"}. */
export const patchBodyV20 = changes(
  change.transform((raw, ctx) => {
    const present = OPS.filter((op) => op in raw);
    if (present.length !== 1) {
      const how = present.length === 0 ? "exactly" : "only";
      ctx.addIssue({
        code: "custom",
        message: `Operation objects must contain ${how} one member named "add", "remove", or "replace".`,
      });
      return z.NEVER;
    }
    const op = present[0] as (typeof OPS)[number];
    return patchOp(op, raw[op], raw, ctx);
  }),
);

const bool = (name: string) =>
  z
    .enum(["true", "false"], { error: `Invalid value for ${name}: must be true or false.` })
    .transform((v) => v === "true");

/** A filter given once (repeated keys arrive as arrays). */
const once = (name: string) => z.string({ error: `Parameter ${name} must be given once.` }).optional();
const count = (name: string) =>
  z
    .string({ error: `Parameter ${name} must be given once.` })
    .regex(/^\d{1,15}$/, `${name} param must be a non-negative integer`)
    .transform(Number)
    .optional();

/**
 * GET /v2/images query (docs/reference.md §8.3). Keys it does not name filter on custom properties, as in
 * Glance (`?os_distro=debian`), so an unknown filter narrows the list rather than being ignored.
 */
export const listQuery = z
  .object({
    limit: z
      .string()
      .regex(/^\d+$/, "limit param must be an integer")
      .transform((v) => Math.min(Number(v), 1000))
      .optional(),
    marker: once("marker"),
    visibility: z
      .enum(["public", "private", "shared", "community", "all"], {
        error: (i) => `Invalid visibility value: ${String(i.input)}`,
      })
      .optional(),
    member_status: z
      .enum(["accepted", "pending", "rejected", "all"], {
        error: (i) => `Invalid status value: ${String(i.input)}`,
      })
      .optional(),
    owner: once("owner"),
    name: once("name"),
    status: once("status"),
    disk_format: once("disk_format"),
    container_format: once("container_format"),
    checksum: once("checksum"),
    os_hash_value: once("os_hash_value"),
    size: count("size"),
    min_ram: count("min_ram"),
    min_disk: count("min_disk"),
    size_min: count("size_min"),
    size_max: count("size_max"),
    tag: z.union([z.string(), z.array(z.string())]).optional(),
    // Glance lower-cases os_hidden (not protected): openstacksdk's find_image sends os_hidden=True.
    os_hidden: z
      .string({ error: "Invalid value for os_hidden: must be true or false." })
      .transform((v) => v.toLowerCase())
      .pipe(bool("os_hidden"))
      .optional(),
    protected: bool("protected").optional(),
    sort_key: z.union([z.string(), z.array(z.string())]).optional(),
    sort_dir: z.union([z.string(), z.array(z.string())]).optional(),
    sort: once("sort"),
  })
  .catchall(z.string({ error: "Property filters must be given once." }));
export type ListQuery = z.output<typeof listQuery>;

/** PUT /v2/images/{id}/file: the declared length, absent when the body is chunked. */
export const uploadHeaders = z.object({
  "content-length": z.string().regex(/^\d+$/, "Invalid Content-Length").transform(Number).optional(),
});
