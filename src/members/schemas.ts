import { z } from "zod";
import { imageIdParam } from "../images/schemas";

/** A project id as member: a string of 1–255 characters without control characters (docs/reference.md §3). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
export const memberId = z
  .string({ error: (issue) => (issue.input === null ? "Member can't be empty" : "Invalid member id.") })
  .min(1, "Member can't be empty")
  // Characters as Glance counts them (code points), not UTF-16 units.
  .refine((s) => [...s].length <= 255, "Invalid member id.")
  .refine((s) => !CONTROL.test(s), "Invalid member id.");

const jsonObject = (message: string) =>
  z.custom<Record<string, unknown>>((v) => typeof v === "object" && v !== null && !Array.isArray(v), {
    error: message,
  });

/** docs/reference.md §2's timestamp form, which is also the only form `expires_at` takes. */
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/;
export const MAX_EXPIRY_YEARS = 10;

/** Whether `v` is a real instant written in docs/reference.md §2's form. */
export function isTimestamp(v: string): boolean {
  if (!TIMESTAMP.test(v)) return false;
  const at = Date.parse(v);
  // Date.parse rolls 02-30 over to March and refuses 13-01: a real date reads back as written.
  return !Number.isNaN(at) && `${new Date(at).toISOString().slice(0, 19)}Z` === v;
}

/**
 * Why `v` is not an expiry (docs/reference.md §12.1) at `nowMs`, or null when it is one: a timestamp strictly
 * in the future and at most 10 years ahead. `null` (never expires) is for the caller to allow.
 */
export function expiryProblem(v: unknown, nowMs: number = Date.now()): string | null {
  if (typeof v !== "string") return "must be a string in the form YYYY-MM-DDThh:mm:ssZ";
  if (!TIMESTAMP.test(v)) return "must be in the form YYYY-MM-DDThh:mm:ssZ";
  if (!isTimestamp(v)) return "not a valid date";
  const at = Date.parse(v);
  if (at <= nowMs) return "must be in the future";
  const limit = new Date(nowMs);
  limit.setUTCFullYear(limit.getUTCFullYear() + MAX_EXPIRY_YEARS);
  if (at > limit.getTime()) return `must be at most ${MAX_EXPIRY_YEARS} years ahead`;
  return null;
}

export const invalidExpiry = (why: string) => `Invalid expires_at: ${why}.`;

/** `expires_at` in a body: absent or null = never; else an expiry, or docs/reference.md §12.1's 400. */
export const expiresAt = z.unknown().transform((v, ctx): string | null => {
  if (v === undefined || v === null) return null;
  const why = expiryProblem(v);
  if (why === null) return v as string;
  ctx.addIssue({ code: "custom", message: invalidExpiry(why) });
  return z.NEVER;
});

/**
 * POST body: `member_id` preferred, `member` deprecated; with both, `member_id` wins (seed).
 * `expires_at` (docs/reference.md §12.1) is checked after the member, with it (step 2).
 */
export const addMemberBody = jsonObject('Expected a member in the form: {"member_id": "<project id>"}')
  .refine((o) => "member_id" in o || "member" in o, "Member to be added not specified")
  .transform((o) => ({ member: "member_id" in o ? o.member_id : o.member, expires_at: o.expires_at }))
  .pipe(z.object({ member: memberId, expires_at: expiresAt }));

/**
 * PATCH body (docs/reference.md §12.1): exactly `{"expires_at": <timestamp> | null}`. Checked after the image
 * and the row were found (§5.5's order), so it parses to a verdict rather than failing here.
 */
export type ExpiryChange = { ok: true; expiresAt: string | null } | { ok: false; message: string };
export const PATCH_MEMBER_FORM =
  'Expected a change in the form: {"expires_at": "YYYY-MM-DDThh:mm:ssZ"} or {"expires_at": null}';
export const patchMemberBody = z.unknown().transform((o): ExpiryChange => {
  if (typeof o !== "object" || o === null || Array.isArray(o))
    return { ok: false, message: PATCH_MEMBER_FORM };
  const other = Object.keys(o).find((k) => k !== "expires_at");
  if (other !== undefined)
    return { ok: false, message: `Attribute '${other}' cannot be changed: only expires_at can.` };
  if (!("expires_at" in o)) return { ok: false, message: PATCH_MEMBER_FORM };
  const v = (o as { expires_at: unknown }).expires_at;
  if (v === null) return { ok: true, expiresAt: null };
  const why = expiryProblem(v);
  return why === null ? { ok: true, expiresAt: v as string } : { ok: false, message: invalidExpiry(why) };
});

export const MEMBER_STATUSES = ["pending", "accepted", "rejected"] as const;
export type MemberStatus = (typeof MEMBER_STATUSES)[number];

/**
 * PUT body: the status is only checked for being a status after the image and the row were
 * found (docs/reference.md §5.4 step 6), so here it stays whatever JSON value was sent.
 */
export const updateMemberBody = jsonObject('Expected a status in the form: {"status": "status"}')
  .refine((o) => "status" in o, "Status not specified")
  .transform((o) => {
    const status = o.status;
    return MEMBER_STATUSES.find((s) => s === status) ?? null;
  });

export const imageParams = z.object({ image_id: imageIdParam });
export const memberParams = z.object({ image_id: imageIdParam, member_id: z.string() });
