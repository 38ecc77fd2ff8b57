import { z } from "zod";
import { limitParam, markerParam } from "../http/paging";
import { UUID } from "../images/schemas";
import { expiryProblem, invalidExpiry, memberId } from "../members/schemas";

/** GET /v2/shares and POST /v2/shares inputs (docs/reference.md §12.2, §12.3). */

export const SHARE_STATUSES = ["pending", "accepted", "rejected", "all"] as const;
const once = (name: string) => z.string({ error: `Parameter ${name} must be given once.` }).optional();

/** Query of GET /v2/shares: the filters reference names, nothing else (a typo is a 400, not a wider list). */
export const sharesQuery = z.strictObject(
  {
    member_id: once("member_id"),
    owner: once("owner"),
    image_id: once("image_id"),
    status: z
      .string({ error: "Parameter status must be given once." })
      .pipe(z.enum(SHARE_STATUSES, { error: (i) => `Invalid status value: ${String(i.input)}` }))
      .optional(),
    limit: limitParam,
    marker: markerParam,
  },
  { error: (i) => (i.code === "unrecognized_keys" ? `Unknown filter: ${i.keys[0]}.` : undefined) },
);

export const MAX_BULK = 100;
export const BULK_FORM =
  'Expected shares in the form: {"images": ["<image id>", ...], "members": ["<project id>", ...], "expires_at": "YYYY-MM-DDThh:mm:ssZ"}';
const IMAGES_LIST = `images must be a list of 1 to ${MAX_BULK} image ids.`;
const MEMBERS_LIST = `members must be a list of 1 to ${MAX_BULK} project ids.`;

/** An image of a bulk share: as the client wrote it (for messages) and canonical, or null if malformed. */
export interface BulkImage {
  raw: string;
  id: string | null;
}
export interface BulkShare {
  images: BulkImage[];
  members: string[];
  expiresAt: string | null;
}

const list = (v: unknown, message: string, ctx: z.RefinementCtx): unknown[] | null => {
  if (!Array.isArray(v) || v.length < 1 || v.length > MAX_BULK) {
    ctx.addIssue({ code: "custom", message });
    return null;
  }
  return v;
};

/**
 * POST /v2/shares body: images, members (duplicates dropped, first occurrence kept) and an
 * optional expiry. Unknown keys are refused: a misspelt `expires_at` must not share forever.
 */
export const bulkShareBody = z.unknown().transform((o, ctx): BulkShare => {
  if (typeof o !== "object" || o === null || Array.isArray(o)) {
    ctx.addIssue({ code: "custom", message: BULK_FORM });
    return z.NEVER;
  }
  const body = o as Record<string, unknown>;
  const unknown = Object.keys(body).find((k) => k !== "images" && k !== "members" && k !== "expires_at");
  if (unknown !== undefined) {
    ctx.addIssue({ code: "custom", message: `Unknown key: ${unknown}.` });
    return z.NEVER;
  }
  const images = list(body.images, IMAGES_LIST, ctx);
  if (!images) return z.NEVER;
  if (images.some((v) => typeof v !== "string")) {
    ctx.addIssue({ code: "custom", message: IMAGES_LIST });
    return z.NEVER;
  }
  const members = list(body.members, MEMBERS_LIST, ctx);
  if (!members) return z.NEVER;
  const checked: string[] = [];
  for (const m of members) {
    const r = memberId.safeParse(m);
    if (!r.success) {
      ctx.addIssue({ code: "custom", message: r.error.issues[0]?.message ?? "Invalid member id." });
      return z.NEVER;
    }
    checked.push(r.data);
  }
  let expiresAt: string | null = null;
  if (body.expires_at !== undefined && body.expires_at !== null) {
    const why = expiryProblem(body.expires_at);
    if (why !== null) {
      ctx.addIssue({ code: "custom", message: invalidExpiry(why) });
      return z.NEVER;
    }
    expiresAt = body.expires_at as string;
  }
  const seen = new Set<string>();
  const uniqueImages: BulkImage[] = [];
  for (const raw of images as string[]) {
    const id = UUID.test(raw) ? raw.toLowerCase() : null;
    const key = id ?? `raw:${raw}`;
    if (seen.has(key)) continue;
    seen.add(key);
    uniqueImages.push({ raw, id });
  }
  return { images: uniqueImages, members: [...new Set(checked)], expiresAt };
});
