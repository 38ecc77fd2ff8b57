import { z } from "zod";
import { imageIdParam } from "../images/schemas";

/** A project id as member: a string of 1–255 characters without control characters (SPEC §3). */
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

/** POST body: `member_id` preferred, `member` deprecated; with both, `member_id` wins (seed). */
export const addMemberBody = jsonObject('Expected a member in the form: {"member_id": "<project id>"}')
  .refine((o) => "member_id" in o || "member" in o, "Member to be added not specified")
  .transform((o) => ("member_id" in o ? o.member_id : o.member))
  .pipe(memberId);

export const MEMBER_STATUSES = ["pending", "accepted", "rejected"] as const;
export type MemberStatus = (typeof MEMBER_STATUSES)[number];

/**
 * PUT body: the status is only checked for being a status after the image and the row were
 * found (SPEC §5.4 step 6), so here it stays whatever JSON value was sent.
 */
export const updateMemberBody = jsonObject('Expected a status in the form: {"status": "status"}')
  .refine((o) => "status" in o, "Status not specified")
  .transform((o) => {
    const status = o.status;
    return MEMBER_STATUSES.find((s) => s === status) ?? null;
  });

export const imageParams = z.object({ image_id: imageIdParam });
export const memberParams = z.object({ image_id: imageIdParam, member_id: z.string() });
