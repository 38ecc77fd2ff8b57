import type { Context } from "hono";
import type { AppEnv } from "./env";
import { type MemberAction, memberEvent } from "./members/events";
import type { MemberRow } from "./members/store";

declare global {
  namespace Cloudflare {
    interface Env {
      /** Optional Queue for image-member notifications (SPEC §9); unbound = none sent. */
      NOTIFICATIONS?: Queue;
    }
  }
}

/**
 * Sends a member event after the response is decided: a failure to enqueue never fails or
 * undoes the API call, it is logged with the request id.
 */
export function notifyMember(c: Context<AppEnv>, action: MemberAction, member: MemberRow): void {
  const queue = c.env.NOTIFICATIONS;
  if (!queue) return;
  const event = memberEvent(action, member, new URL(c.req.url).hostname);
  const requestId = c.get("requestId");
  const sent = Promise.resolve()
    .then(() => queue.send(event))
    .catch((err: unknown) => {
      console.error(
        JSON.stringify({
          level: "error",
          request_id: requestId,
          msg: `could not enqueue ${event.event_type} for image ${member.image_id}`,
          detail: err instanceof Error ? err.message : String(err),
        }),
      );
    });
  c.executionCtx.waitUntil(sent);
}
