import { type Actor, inContext } from "../audit/context";
import { now, Params } from "../db/sql";
import type { Db } from "../env";
import type { Visibility } from "../images/schemas";
import { FACTS_COLUMNS, type FactsRow, facts } from "../images/store";
import { EXPIRED } from "../members/live";
import type { ImageAccess } from "../members/rules";
import type { Guard } from "../members/store";
import { MEMBER_COLUMNS, MEMBER_COUNT, type MemberRow } from "../members/store";

/** All SQL of docs/reference.md §12.2 and §12.3. Each function is one D1 round trip. */

export interface ShareRow extends MemberRow {
  image_name: string | null;
  image_owner: string | null;
  image_visibility: Visibility;
}

const SHARE_COLUMNS = `m.image_id, i.name AS image_name, i.owner AS image_owner,
  i.visibility AS image_visibility, m.member_id, m.status, m.created_at, m.updated_at, m.expires_at`;

export interface SharesPlan {
  /** null: an admin (context_is_admin), who sees every membership. */
  project: string | null;
  memberId?: string;
  owner?: string;
  imageId?: string;
  status?: "pending" | "accepted" | "rejected";
  limit: number;
  /** The last row of the previous page: (created_at, image_id, member_id). */
  after: [string, string, string] | null;
}

/** A share's place in listShares' order: the key its page's marker holds. */
export const shareKey = (s: ShareRow): [string, string, string] => [s.created_at, s.image_id, s.member_id];

/**
 * One page of memberships in (created_at, image_id, member_id) order, only of images that take
 * members and only live ones. A project's page is two index walks merged: its inbox (it is the
 * member: image_members_by_member_created) and what it shared (images_by_owner, then each
 * image's members); an admin's is one walk of image_members_by_created.
 */
export async function listShares(db: Db, plan: SharesPlan): Promise<ShareRow[]> {
  const p = new Params();
  // "+": the images_by_visibility index would read every shared image; the page walks memberships.
  const filters = ["+i.visibility IN ('shared', 'private')"];
  if (plan.memberId !== undefined) filters.push(`m.member_id = ${p.param(plan.memberId)}`);
  if (plan.owner !== undefined) filters.push(`i.owner = ${p.param(plan.owner)}`);
  if (plan.imageId !== undefined) filters.push(`m.image_id = ${p.param(plan.imageId)}`);
  if (plan.status !== undefined) filters.push(`m.status = ${p.param(plan.status)}`);
  if (plan.after !== null) {
    const [c, i, m] = plan.after.map(p.param);
    filters.push(`(m.created_at, m.image_id, m.member_id) > (${c}, ${i}, ${m})`);
  }
  const limit = p.param(plan.limit);
  const byKey = "ORDER BY m.created_at, m.image_id, m.member_id";
  const arm = (scope: string) =>
    `SELECT ${SHARE_COLUMNS} FROM live_members m JOIN images i ON i.id = m.image_id
     WHERE ${scope} AND ${filters.join(" AND ")}`;
  let sql: string;
  if (plan.project === null) {
    sql = `${arm("1")} ${byKey} LIMIT ${limit}`;
  } else {
    const me = p.param(plan.project);
    sql = `SELECT * FROM (
        SELECT * FROM (${arm(`m.member_id = ${me}`)} ${byKey} LIMIT ${limit})
        UNION ALL
        SELECT * FROM (${arm(`i.owner = ${me} AND m.member_id <> ${me}`)} ${byKey} LIMIT ${limit})
      ) ORDER BY created_at, image_id, member_id LIMIT ${limit}`;
  }
  const { results } = await db
    .prepare(sql)
    .bind(...p.values)
    .all<ShareRow>();
  return results;
}

/** What the read of a bulk share found about one image of the request. */
export interface BulkImageFacts {
  image: ImageAccess | null;
  memberCount: number;
  /** How many of the request's members are not members of it yet. */
  newCount: number;
}

export type BulkResult =
  | { kind: "shared"; rows: (ShareRow & { created: boolean })[]; expired: MemberRow[] }
  | { kind: "refused"; images: BulkImageFacts[] };

/**
 * POST /v2/shares as one batch, all or nothing. The first statement reads every image as the
 * caller sees it (to explain a refusal); the second decides, once, whether every image passes
 * the route's rules and its quota, and stores the verdict in the batch's context row; the
 * writes happen only under that verdict, so concurrent adds (single or bulk) never exceed a
 * quota — D1 runs the batch as one transaction — and the UNIQUE constraint still guards
 * duplicates. Expired rows of the pairs are replaced, recorded as their expiry.
 */
export async function bulkShare(
  db: Db,
  project: string,
  actor: Actor,
  imageIds: (string | null)[],
  members: string[],
  expiresAt: string | null,
  quota: number,
  guard: Guard,
): Promise<BulkResult> {
  const imagesJson = JSON.stringify(imageIds);
  const membersJson = JSON.stringify(members);
  const read = readImages(db, project, imagesJson, membersJson);
  const p = new Params(imagesJson, project, membersJson, quota);
  const gate = db
    .prepare(
      `UPDATE change_context SET gate = NOT EXISTS (
         SELECT 1 FROM json_each(?1) r LEFT JOIN images i ON i.id = r.value
         WHERE i.id IS NULL OR (${guard(p.param)}) IS NOT 1
           OR (?4 >= 0 AND ${NEW_COUNT} > 0 AND ${MEMBER_COUNT} + ${NEW_COUNT} > ?4))
       WHERE id = 1`,
    )
    .bind(...p.values);
  const passed = "(SELECT gate FROM change_context WHERE id = 1) = 1";
  const replaceExpired = db
    .prepare(
      `DELETE FROM image_members WHERE ${passed} AND ${EXPIRED}
         AND image_id IN (SELECT value FROM json_each(?1)) AND member_id IN (SELECT value FROM json_each(?2))
       RETURNING ${MEMBER_COLUMNS}`,
    )
    .bind(imagesJson, membersJson);
  // OR IGNORE: a pair whose row expired between the DELETE above and this statement (each reads
  // the clock) is simply not created, rather than failing the batch on the UNIQUE key.
  const insert = db
    .prepare(
      `INSERT OR IGNORE INTO image_members (${MEMBER_COLUMNS})
       SELECT r.value, mm.value, 'pending', ?3, ?3, ?4 FROM json_each(?1) r, json_each(?2) mm
       WHERE ${passed}
         AND NOT EXISTS (SELECT 1 FROM live_members m WHERE m.image_id = r.value AND m.member_id = mm.value)
       ORDER BY r.key, mm.key
       RETURNING ${MEMBER_COLUMNS}`,
    )
    .bind(imagesJson, membersJson, now(), expiresAt);
  // The pairs that were members already and still are.
  const existing = db
    .prepare(
      `SELECT ${MEMBER_COLUMNS.split(", ")
        .map((c) => `m.${c}`)
        .join(", ")}
       FROM json_each(?1) r, json_each(?2) mm
       JOIN live_members m ON m.image_id = r.value AND m.member_id = mm.value`,
    )
    .bind(imagesJson, membersJson);
  const verdict = db.prepare("SELECT gate FROM change_context WHERE id = 1");
  const [before, , replaced, inserted, kept, decided] = await inContext(db, actor, [
    read,
    gate,
    replaceExpired,
    insert,
    existing,
    verdict,
  ]);
  const images = imageFacts(before);
  if ((decided?.results[0] as { gate: number } | undefined)?.gate !== 1) return { kind: "refused", images };
  // Request order (images, then members): created rows first-hand, the others as they are.
  const pair = (row: MemberRow) => JSON.stringify([row.image_id, row.member_id]);
  const created = new Map(((inserted?.results ?? []) as MemberRow[]).map((r) => [pair(r), r]));
  const live = new Map(((kept?.results ?? []) as MemberRow[]).map((r) => [pair(r), r]));
  const rows: (ShareRow & { created: boolean })[] = [];
  for (const [n, imageId] of imageIds.entries()) {
    const image = images[n]?.image;
    if (!image || imageId === null) continue;
    for (const memberId of members) {
      const key = JSON.stringify([imageId, memberId]);
      const row = created.get(key) ?? live.get(key);
      if (!row) continue; // expired while the batch ran: gone, as docs/reference.md §12.1 says
      rows.push({
        ...row,
        image_name: image.name,
        image_owner: image.owner,
        image_visibility: image.visibility,
        created: created.has(key),
      });
    }
  }
  return { kind: "shared", rows, expired: (replaced?.results ?? []) as MemberRow[] };
}

/** Members of ?3 (JSON) that image `i` does not have yet. */
const NEW_COUNT = `(SELECT COUNT(*) FROM json_each(?3) mm
  WHERE NOT EXISTS (SELECT 1 FROM live_members m WHERE m.image_id = i.id AND m.member_id = mm.value))`;

/** Every image of ?1 (JSON), in request order, as ?2 sees it, with its counts. */
const readImages = (db: Db, project: string, imagesJson: string, membersJson: string) =>
  db
    .prepare(
      `SELECT ${FACTS_COLUMNS}, ${MEMBER_COUNT} AS member_count, ${NEW_COUNT} AS new_count
       FROM json_each(?1) r LEFT JOIN images i ON i.id = r.value ORDER BY r.key`,
    )
    .bind(imagesJson, project, membersJson);

/** A row of readImages: the image's columns, or NULLs where the LEFT JOIN found no image. */
type BulkImageRow = (FactsRow | { id: null }) & { member_count: number; new_count: number };

function imageFacts(result: D1Result<unknown> | undefined): BulkImageFacts[] {
  const found = (result?.results ?? []) as BulkImageRow[];
  return found.map((row) => ({
    image: row.id === null ? null : facts(row),
    memberCount: row.member_count,
    newCount: row.new_count,
  }));
}

/** Only the read of bulkShare: to refuse before Keystone is asked (VALIDATE_MEMBER_IDS). */
export async function readBulkImages(
  db: Db,
  project: string,
  imageIds: (string | null)[],
  members: string[],
): Promise<BulkImageFacts[]> {
  return imageFacts(await readImages(db, project, JSON.stringify(imageIds), JSON.stringify(members)).all());
}
