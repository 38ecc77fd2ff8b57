import { z } from "zod";
import { limitParam, markerParam } from "../http/paging";
import { isTimestamp } from "../members/schemas";

/** GET /v2/member-events query (docs/reference.md §12.4). */
export const EVENT_ACTIONS = ["create", "update", "expire", "delete", "image-delete"] as const;
export type EventAction = (typeof EVENT_ACTIONS)[number];

const once = (name: string) => z.string({ error: `Parameter ${name} must be given once.` }).optional();
const SINCE = "Invalid since: must be a time in the form YYYY-MM-DDThh:mm:ssZ.";

export const memberEventsQuery = z.strictObject(
  {
    image_id: once("image_id"),
    member_id: once("member_id"),
    action: z
      .string({ error: "Parameter action must be given once." })
      .pipe(z.enum(EVENT_ACTIONS, { error: (i) => `Invalid action value: ${String(i.input)}` }))
      .optional(),
    since: z.string({ error: SINCE }).refine(isTimestamp, SINCE).optional(),
    limit: limitParam,
    marker: markerParam,
  },
  { error: (i) => (i.code === "unrecognized_keys" ? `Unknown filter: ${i.keys[0]}.` : undefined) },
);
