import type { EventRow } from "./store";

/** An audit record (docs/reference.md §12.4). */
export function eventView(e: EventRow) {
  return {
    id: e.id,
    at: e.at,
    action: e.action,
    image_id: e.image_id,
    image_owner: e.image_owner,
    member_id: e.member_id,
    status: e.status,
    expires_at: e.expires_at,
    actor:
      e.actor_project === null && e.actor_user === null
        ? null
        : { project_id: e.actor_project, user_id: e.actor_user },
    request_id: e.request_id,
  };
}
