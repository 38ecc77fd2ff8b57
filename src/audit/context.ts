import type { Db } from "../env";

/**
 * Who makes a membership change, for the audit trail (docs/reference.md §12.4). The triggers of
 * migrations/0005 write each record from the change itself; they read the actor from the one
 * `change_context` row that the change's batch writes first and removes last. D1 runs a batch
 * as one transaction on its single writer, so no other request ever sees that row.
 */
export interface Actor {
  project: string | null;
  user: string | null;
  requestId: string | null;
}

/** How the batch's membership deletes are recorded, when the row alone does not say. */
export type DeleteAction = "expire" | "delete" | "image-delete";

/**
 * Runs `statements` as one batch (one round trip, one transaction) inside the actor's context
 * and returns their results, in order.
 */
export async function inContext(
  db: Db,
  actor: Actor | null,
  statements: D1PreparedStatement[],
  deleteAction: DeleteAction | null = null,
): Promise<D1Result<unknown>[]> {
  const open = db
    .prepare(
      `INSERT OR REPLACE INTO change_context (id, actor_project, actor_user, request_id, delete_action)
       VALUES (1, ?1, ?2, ?3, ?4)`,
    )
    .bind(actor?.project ?? null, actor?.user ?? null, actor?.requestId ?? null, deleteAction);
  const close = db.prepare("DELETE FROM change_context WHERE id = 1");
  const results = await db.batch<unknown>([open, ...statements, close]);
  return results.slice(1, -1);
}
