import { Params } from "../db/sql";
import type { Db } from "../env";
import type { EventAction } from "./schemas";

/** The audit trail's SQL (docs/reference.md §12.4); its records are written by migrations/0005's triggers. */
export interface EventRow {
  id: number;
  at: string;
  action: EventAction;
  image_id: string;
  image_owner: string | null;
  member_id: string;
  status: string;
  expires_at: string | null;
  actor_project: string | null;
  actor_user: string | null;
  request_id: string | null;
}

const COLUMNS =
  "e.id, e.at, e.action, e.image_id, e.image_owner, e.member_id, e.status, e.expires_at, e.actor_project, e.actor_user, e.request_id";

export interface EventsPlan {
  /** null: an admin, who reads every record. */
  project: string | null;
  imageId?: string;
  memberId?: string;
  action?: EventAction;
  since?: string;
  limit: number;
  /** The id of the previous page's last (oldest) record. */
  before: number | null;
}

/**
 * One page, newest first. A project reads the records where it is the member
 * (member_events_by_member) and those of images it owned (member_events_by_owner): two
 * index walks in id order, merged; an admin walks the primary key.
 */
export async function listEvents(db: Db, plan: EventsPlan): Promise<EventRow[]> {
  const p = new Params();
  const filters: string[] = [];
  if (plan.imageId !== undefined) filters.push(`e.image_id = ${p.param(plan.imageId)}`);
  if (plan.memberId !== undefined) filters.push(`e.member_id = ${p.param(plan.memberId)}`);
  if (plan.action !== undefined) filters.push(`e.action = ${p.param(plan.action)}`);
  if (plan.since !== undefined) filters.push(`e.at >= ${p.param(plan.since)}`);
  if (plan.before !== null) filters.push(`e.id < ${p.param(plan.before)}`);
  const limit = p.param(plan.limit);
  const where = (scope: string) => [scope, ...filters].join(" AND ");
  let sql: string;
  if (plan.project === null) {
    sql = `SELECT ${COLUMNS} FROM member_events e WHERE ${where("1")} ORDER BY e.id DESC LIMIT ${limit}`;
  } else {
    const me = p.param(plan.project);
    sql = `SELECT * FROM (
        SELECT * FROM (SELECT ${COLUMNS} FROM member_events e WHERE ${where(`e.member_id = ${me}`)}
                       ORDER BY e.id DESC LIMIT ${limit})
        UNION ALL
        SELECT * FROM (SELECT ${COLUMNS} FROM member_events e
                       WHERE ${where(`e.image_owner = ${me} AND e.member_id <> ${me}`)}
                       ORDER BY e.id DESC LIMIT ${limit})
      ) ORDER BY id DESC LIMIT ${limit}`;
  }
  const { results } = await db
    .prepare(sql)
    .bind(...p.values)
    .all<EventRow>();
  return results;
}
