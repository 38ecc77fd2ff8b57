import type { MemberRow } from "./store";

/**
 * Image-member notifications (docs/reference.md §9), in the shape Glance's notifier sends them, so consumers
 * written for Glance's events read these unchanged. Pure.
 */
export type MemberAction = "create" | "update" | "delete";

/** oslo.messaging's timestamp form: "2026-11-26 20:02:40.123000". */
function osloTime(at: Date): string {
  return `${at.toISOString().replace("T", " ").slice(0, 23)}000`;
}

export function memberEvent(action: MemberAction, member: MemberRow, host: string, at = new Date()) {
  const deleted = action === "delete";
  return {
    message_id: crypto.randomUUID(),
    publisher_id: `image.${host}`,
    event_type: `image.member.${action}`,
    priority: "INFO",
    timestamp: osloTime(at),
    payload: {
      image_id: member.image_id,
      member_id: member.member_id,
      status: member.status,
      created_at: member.created_at,
      updated_at: member.updated_at,
      deleted,
      deleted_at: deleted ? `${at.toISOString().slice(0, 19)}Z` : null,
    },
  };
}
export type MemberEvent = ReturnType<typeof memberEvent>;
