import { z } from "zod";

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/**
 * An image id from the path: the raw text (for messages) and its canonical lower-case form,
 * or null when it cannot be an image id. A malformed id is simply not found (SPEC §4), so it
 * is not a validation error here.
 */
export const imageIdParam = z.string().transform((raw) => ({
  raw,
  id: UUID.test(raw) ? raw.toLowerCase() : null,
}));
export type ImageIdParam = z.output<typeof imageIdParam>;
export const imageParam = z.object({ image_id: imageIdParam });

export const VISIBILITIES = ["public", "community", "shared", "private"] as const;
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
export const patchBody = z.array(
  z.discriminatedUnion(
    "op",
    [
      z.object({ op: z.enum(["add", "replace"]), path: z.string(), value: z.unknown() }).loose(),
      z.object({ op: z.literal("remove"), path: z.string() }).loose(),
    ],
    { error: 'Operation objects must contain exactly one member named "add", "remove", or "replace".' },
  ),
  { error: "Request body must be a JSON array of operation objects." },
);
export type PatchOp = z.output<typeof patchBody>[number];

const bool = (name: string) =>
  z
    .enum(["true", "false"], { error: `Invalid value for ${name}: must be true or false.` })
    .transform((v) => v === "true");

/** GET /v2/images query (SPEC §8.3); repeated keys arrive as arrays. */
export const listQuery = z
  .object({
    limit: z
      .string()
      .regex(/^\d+$/, "limit param must be an integer")
      .transform((v) => Math.min(Number(v), 1000))
      .optional(),
    marker: z.string().optional(),
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
    owner: z.string().optional(),
    name: z.string().optional(),
    status: z.string().optional(),
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
    sort: z.string().optional(),
  })
  .loose();
export type ListQuery = z.output<typeof listQuery>;

/** PUT /v2/images/{id}/file: the declared length, absent when the body is chunked. */
export const uploadHeaders = z.object({
  "content-length": z.string().regex(/^\d+$/, "Invalid Content-Length").transform(Number).optional(),
});
