import { type Actor, inContext } from "../audit/context";
import { isUniqueViolation, now, Params } from "../db/sql";
import type { Db } from "../env";
import { FACTS_COLUMNS, type FactsRow, facts } from "../images/store";
import { EXPIRED, LIVE } from "./live";
import type { ImageAccess } from "./rules";
import type { MemberStatus } from "./schemas";

/**
 * All member SQL. Every function costs one D1 round trip: one statement, or one batch (a
 * transaction) whose first statement reads the image as the caller sees it and whose second
 * writes only if `guard` — the route's rules reduced to SQL (src/members/rules.ts) — holds for
 * the image at that instant. The route explains a refusal from the read with the same rules.
 */
export interface MemberRow {
  image_id: string;
  member_id: string;
  status: MemberStatus;
  created_at: string;
  updated_at: string;
  expires_at: string | null;
}

/** Who asks: the caller's project and whether it is an admin (context_is_admin). */
export interface Asker {
  project: string;
  admin: boolean;
}

/** The route's rules as SQL over image `i`, placeholders from the statement's Params. */
export type Guard = (param: (v: unknown) => string) => string;

/** The member columns of ACCESS_WITH_MEMBER: the row, or all NULL when the LEFT JOIN found none. */
interface MemberColumns {
  m_image_id: string;
  m_member_id: string;
  m_status: MemberStatus;
  m_created_at: string;
  m_updated_at: string;
  m_expires_at: string | null;
}
type AccessWithMemberRow = FactsRow & (MemberColumns | { [K in keyof MemberColumns]: null });

export const MEMBER_COLUMNS = "image_id, member_id, status, created_at, updated_at, expires_at";

/** The image and whether ?2 (the caller's project) is a member of it. */
const ACCESS = FACTS_COLUMNS;

/** The image and one member row of it (or NULLs): ?1 image, ?2 caller's project, ?3 member. */
const ACCESS_WITH_MEMBER = `SELECT ${ACCESS}, t.image_id AS m_image_id, t.member_id AS m_member_id,
    t.status AS m_status, t.created_at AS m_created_at, t.updated_at AS m_updated_at,
    t.expires_at AS m_expires_at
  FROM images i LEFT JOIN live_members t ON t.image_id = i.id AND t.member_id = ?3
  WHERE i.id = ?1`;

function memberOf(row: AccessWithMemberRow | null | undefined): MemberRow | null {
  if (!row || row.m_member_id === null) return null;
  return {
    image_id: row.m_image_id,
    member_id: row.m_member_id,
    status: row.m_status,
    created_at: row.m_created_at,
    updated_at: row.m_updated_at,
    expires_at: row.m_expires_at,
  };
}

export interface Lookup {
  image: ImageAccess | null;
  member: MemberRow | null;
}

function lookup(row: AccessWithMemberRow | null | undefined): Lookup {
  // The image part is decoded as the image store decodes it; the member columns ride along.
  return { image: facts(row), member: memberOf(row) };
}

function readAccessWithMember(db: Db, imageId: string | null, asker: Asker, memberId: string) {
  return db.prepare(ACCESS_WITH_MEMBER).bind(imageId, asker.project, memberId);
}

export type AddResult =
  | { kind: "added"; member: MemberRow; expired: MemberRow[] }
  | { kind: "duplicate" }
  | { kind: "refused"; image: ImageAccess | null; memberCount: number };

/** Live members of image `i`: what the quota counts. */
export const MEMBER_COUNT = "(SELECT COUNT(*) FROM live_members m WHERE m.image_id = i.id)";

/**
 * Adds a pending member if the route's rules hold and the quota (negative: unlimited) leaves
 * room: all decided inside one INSERT, so concurrent adds never exceed the quota, and the
 * UNIQUE constraint alone answers duplicates. An expired row of the same member is removed
 * first under the same conditions (recorded as its expiry), so the add starts a fresh membership.
 */
export async function addMember(
  db: Db,
  asker: Asker,
  actor: Actor,
  imageId: string | null,
  memberId: string,
  expiresAt: string | null,
  quota: number,
  guard: Guard,
): Promise<AddResult> {
  const read = db
    .prepare(`SELECT ${ACCESS}, ${MEMBER_COUNT} AS member_count FROM images i WHERE i.id = ?1`)
    .bind(imageId, asker.project);
  const p = new Params(imageId, asker.project, memberId, now(), quota, expiresAt);
  const allowed = `i.id = ?1 AND ${guard(p.param)} AND (?5 < 0 OR ${MEMBER_COUNT} < ?5)`;
  const replaceExpired = db
    .prepare(
      `DELETE FROM image_members WHERE image_id = ?1 AND member_id = ?3 AND ${EXPIRED}
         AND EXISTS (SELECT 1 FROM images i WHERE ${allowed})
       RETURNING ${MEMBER_COLUMNS}`,
    )
    .bind(...p.values);
  const insert = db
    .prepare(
      `INSERT INTO image_members (${MEMBER_COLUMNS})
       SELECT i.id, ?3, 'pending', ?4, ?4, ?6 FROM images i WHERE ${allowed}
       RETURNING ${MEMBER_COLUMNS}`,
    )
    .bind(...p.values);
  try {
    const [before, replaced, inserted] = await inContext(db, actor, [read, replaceExpired, insert]);
    const member = inserted?.results[0] as MemberRow | undefined;
    if (member) return { kind: "added", member, expired: (replaced?.results ?? []) as MemberRow[] };
    const row = before?.results[0] as (FactsRow & { member_count: number }) | undefined;
    return { kind: "refused", image: facts(row), memberCount: row?.member_count ?? 0 };
  } catch (err) {
    // The INSERT's WHERE held (rules, quota), so the only way left to fail is the key.
    if (isUniqueViolation(err)) return { kind: "duplicate" };
    throw err;
  }
}

/**
 * The image as the caller sees it and the rows the caller may see (Glance's image_member_find:
 * an admin or the owner every row, anyone else its own), in one statement. The rows come as one
 * JSON array column of the image's row, in the list's order (created_at, member_id), rather
 * than as joined rows that each repeat the image's columns: one row for D1 to send and decode.
 */
export async function listMembers(
  db: Db,
  asker: Asker,
  imageId: string | null,
): Promise<{ image: ImageAccess | null; members: MemberRow[] }> {
  const row = await db
    .prepare(
      `SELECT ${ACCESS},
         (SELECT json_group_array(json_array(m.member_id, m.status, m.created_at, m.updated_at,
             m.expires_at) ORDER BY m.created_at, m.member_id)
          FROM live_members m
          WHERE m.image_id = i.id AND (?3 = 1 OR i.owner = ?2 OR m.member_id = ?2)) AS members
       FROM images i WHERE i.id = ?1`,
    )
    .bind(imageId, asker.project, asker.admin ? 1 : 0)
    .first<FactsRow & { members: string }>();
  if (!row) return { image: null, members: [] };
  const { members, ...image } = row;
  const tuples = JSON.parse(members) as [string, MemberStatus, string, string, string | null][];
  return {
    image: facts(image),
    members: tuples.map(([member_id, status, created_at, updated_at, expires_at]) => ({
      image_id: row.id,
      member_id,
      status,
      created_at,
      updated_at,
      expires_at,
    })),
  };
}

export async function showMember(
  db: Db,
  asker: Asker,
  imageId: string | null,
  memberId: string,
): Promise<Lookup> {
  return lookup(await readAccessWithMember(db, imageId, asker, memberId).first<AccessWithMemberRow>());
}

export type WriteResult = Lookup & { written: MemberRow | null };

/** The row may be touched by this caller: an admin or the owner any row, a member its own. */
const ROW_VISIBLE = "(?6 = 1 OR i.owner = ?2 OR ?3 = ?2)";

/** What a guarded write of one live member row changes. */
type RowChange = { kind: "update"; set: string; values: [unknown, unknown] } | { kind: "delete" };

/**
 * One guarded write of the member row ?3 of image ?1, batched with the read that explains a
 * refusal: it happens only if the row is live, the caller may touch it and the route's rules
 * hold for the image at that instant. `change` null only reads.
 */
async function writeRow(
  db: Db,
  asker: Asker,
  actor: Actor,
  imageId: string | null,
  memberId: string,
  change: RowChange | null,
  guard: Guard,
): Promise<WriteResult> {
  const read = readAccessWithMember(db, imageId, asker, memberId);
  if (change === null) return { ...lookup(await read.first<AccessWithMemberRow>()), written: null };
  const [a, b] = change.kind === "update" ? change.values : [null, null];
  const p = new Params(imageId, asker.project, memberId, a, b, asker.admin ? 1 : 0);
  const where = `image_id = ?1 AND member_id = ?3 AND ${LIVE}
    AND EXISTS (SELECT 1 FROM images i WHERE i.id = ?1 AND ${ROW_VISIBLE} AND ${guard(p.param)})`;
  const sql =
    change.kind === "update"
      ? `UPDATE image_members SET ${change.set} WHERE ${where} RETURNING ${MEMBER_COLUMNS}`
      : `DELETE FROM image_members WHERE ${where} RETURNING ${MEMBER_COLUMNS}`;
  const [before, written] = await inContext(db, actor, [read, db.prepare(sql).bind(...p.values)]);
  return {
    ...lookup(before?.results[0] as AccessWithMemberRow | undefined),
    written: (written?.results[0] as MemberRow | undefined) ?? null,
  };
}

/**
 * Sets a member's status when the route's rules hold and the row is the caller's to see. `status`
 * null only reads (the body's status is checked after the lookups, docs/reference.md §5.4), which keeps every
 * outcome at one round trip.
 */
export const updateMemberStatus = (
  db: Db,
  asker: Asker,
  actor: Actor,
  imageId: string | null,
  memberId: string,
  status: MemberStatus | null,
  guard: Guard,
) =>
  writeRow(
    db,
    asker,
    actor,
    imageId,
    memberId,
    status === null ? null : { kind: "update", set: "status = ?4, updated_at = ?5", values: [status, now()] },
    guard,
  );

/**
 * Sets or clears a member's expiry (docs/reference.md §12.1 PATCH) under the same conditions; `expiry`
 * undefined only reads (a bad body answers after the lookups).
 */
export const setMemberExpiry = (
  db: Db,
  asker: Asker,
  actor: Actor,
  imageId: string | null,
  memberId: string,
  expiry: string | null | undefined,
  guard: Guard,
) =>
  writeRow(
    db,
    asker,
    actor,
    imageId,
    memberId,
    expiry === undefined
      ? null
      : { kind: "update", set: "expires_at = ?4, updated_at = ?5", values: [expiry, now()] },
    guard,
  );

/** Removes a member when the route's rules hold and the row is the caller's to see. */
export const deleteMember = (
  db: Db,
  asker: Asker,
  actor: Actor,
  imageId: string | null,
  memberId: string,
  guard: Guard,
) => writeRow(db, asker, actor, imageId, memberId, { kind: "delete" }, guard);
