import type { Context } from "hono";
import { alsoRemember } from "./db/session";
import type { AppEnv } from "./env";
import { detailOf, log } from "./log";
import { type MemberAction, memberEvent } from "./members/events";
import type { MemberRow } from "./members/store";

declare global {
  namespace Cloudflare {
    interface Env {
      /** Optional Queue for image-member notifications (docs/reference.md §9); unbound = none sent. */
      NOTIFICATIONS?: Queue;
    }
  }
}

/** A Queue takes at most 100 messages per sendBatch. */
const BATCH = 100;

/**
 * Sends member events: one `send` for one event, `sendBatch` in hundreds for more. A failure to
 * enqueue never fails or undoes the change; it is logged with the request id (null: the Cron
 * Trigger). Returns the promise to hand to waitUntil.
 */
export function sendMemberEvents(
  queue: Queue | undefined,
  host: string,
  action: MemberAction,
  rows: readonly MemberRow[],
  requestId: string | null,
): Promise<void> {
  if (!queue || rows.length === 0) return Promise.resolve();
  const events = rows.map((row) => memberEvent(action, row, host));
  const sends: Promise<unknown>[] = [];
  if (events.length === 1) sends.push(Promise.resolve().then(() => queue.send(events[0])));
  else {
    for (let at = 0; at < events.length; at += BATCH) {
      const chunk = events.slice(at, at + BATCH).map((body) => ({ body }));
      sends.push(Promise.resolve().then(() => queue.sendBatch(chunk)));
    }
  }
  return Promise.all(
    sends.map((sent) =>
      sent.catch((err: unknown) => {
        log.error(`could not enqueue image.member.${action} for image ${rows[0]?.image_id}`, {
          request_id: requestId,
          detail: detailOf(err),
        });
      }),
    ),
  ).then(() => undefined);
}

/**
 * Every change of memberships comes here once it is written: its events go to the queue after the
 * response is decided, and the members' projects read at least this state next (docs/reference.md §13).
 */
export function notifyMembers(c: Context<AppEnv>, action: MemberAction, rows: readonly MemberRow[]): void {
  alsoRemember(
    c,
    rows.map((row) => row.member_id),
  );
  const sent = sendMemberEvents(
    c.env.NOTIFICATIONS,
    new URL(c.req.url).hostname,
    action,
    rows,
    c.get("requestId"),
  );
  c.executionCtx.waitUntil(sent);
}

export const notifyMember = (c: Context<AppEnv>, action: MemberAction, member: MemberRow) =>
  notifyMembers(c, action, [member]);
