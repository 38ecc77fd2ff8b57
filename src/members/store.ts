import type { ProjectCaller } from "../auth/caller";
import { flag, isUniqueViolation, now } from "../db/sql";
import type { Db } from "../env";
import type { ImageAccess, Visibility } from "./rules";
import type { MemberStatus } from "./schemas";

/**
 * All member SQL. Every function costs one D1 round trip: one statement, or one batch (a
 * transaction) whose first statement reads the image as the caller sees it and whose second
 * writes only if the same rules hold in its WHERE clause. The caller's checks are then
 * explained from the read, never decided by a read before a write.
 */
export interface MemberRow {
  image_id: string;
  member_id: string;
  status: MemberStatus;
  created_at: string;
  updated_at: string;
}

interface AccessRow {
  visibility: Visibility;
  owner: string | null;
  caller_is_member: 0 | 1;
}

interface AccessWithMemberRow extends AccessRow {
  image_id: string | null;
  member_id: string | null;
  status: MemberStatus | null;
  created_at: string | null;
  updated_at: string | null;
}

const MEMBER_COLUMNS = "image_id, member_id, status, created_at, updated_at";

/** What the caller may know of the image: ?1 image id, ?2 caller's project. */
const ACCESS = `i.visibility, i.owner,
  EXISTS (SELECT 1 FROM image_members c WHERE c.image_id = i.id AND c.member_id = ?2) AS caller_is_member`;

/** The image and one member row of it (or NULLs): ?1 image, ?2 caller's project, ?3 member. */
const ACCESS_WITH_MEMBER = `SELECT ${ACCESS}, t.image_id, t.member_id, t.status, t.created_at, t.updated_at
  FROM images i LEFT JOIN image_members t ON t.image_id = i.id AND t.member_id = ?3
  WHERE i.id = ?1`;

function access(row: AccessRow | null | undefined): ImageAccess | null {
  if (!row) return null;
  return { visibility: row.visibility, owner: row.owner, callerIsMember: row.caller_is_member === 1 };
}

function memberOf(row: AccessWithMemberRow | null | undefined): MemberRow | null {
  if (!row || row.member_id === null || row.image_id === null) return null;
  return {
    image_id: row.image_id,
    member_id: row.member_id,
    status: row.status as MemberStatus,
    created_at: row.created_at as string,
    updated_at: row.updated_at as string,
  };
}

export interface Lookup {
  image: ImageAccess | null;
  member: MemberRow | null;
}

function readAccessWithMember(db: Db, imageId: string | null, caller: ProjectCaller, memberId: string) {
  return db.prepare(ACCESS_WITH_MEMBER).bind(imageId, caller.projectId, memberId);
}

function lookup(row: AccessWithMemberRow | null | undefined): Lookup {
  return { image: access(row), member: memberOf(row) };
}

export type AddResult =
  | { kind: "added"; member: MemberRow }
  | { kind: "duplicate" }
  | { kind: "refused"; image: ImageAccess | null; memberCount: number };

/**
 * Adds a pending member if the caller owns the image (or is admin), the image takes members,
 * and the quota (negative: unlimited) leaves room: all decided inside one INSERT, so concurrent
 * adds never exceed the quota, and the UNIQUE constraint alone answers duplicates.
 */
export async function addMember(
  db: Db,
  caller: ProjectCaller,
  imageId: string | null,
  memberId: string,
  quota: number,
): Promise<AddResult> {
  const at = now();
  const read = db
    .prepare(
      `SELECT ${ACCESS}, (SELECT COUNT(*) FROM image_members m WHERE m.image_id = i.id) AS member_count
       FROM images i WHERE i.id = ?1`,
    )
    .bind(imageId, caller.projectId);
  const insert = db
    .prepare(
      `INSERT INTO image_members (${MEMBER_COLUMNS})
       SELECT i.id, ?3, 'pending', ?4, ?4 FROM images i
       WHERE i.id = ?1 AND i.visibility IN ('shared', 'private')
         AND (?5 = 1 OR i.owner = ?2)
         AND (?6 < 0 OR (SELECT COUNT(*) FROM image_members m WHERE m.image_id = i.id) < ?6)
       RETURNING ${MEMBER_COLUMNS}`,
    )
    .bind(imageId, caller.projectId, memberId, at, flag(caller.isAdmin), quota);
  try {
    const [before, inserted] = await db.batch<unknown>([read, insert]);
    const member = inserted?.results[0] as MemberRow | undefined;
    if (member) return { kind: "added", member };
    const row = before?.results[0] as (AccessRow & { member_count: number }) | undefined;
    return { kind: "refused", image: access(row), memberCount: row?.member_count ?? 0 };
  } catch (err) {
    // The INSERT's WHERE held (visible, owner, quota), so the only way left to fail is the key.
    if (isUniqueViolation(err)) return { kind: "duplicate" };
    throw err;
  }
}

/** The image as the caller sees it and the rows the caller may see, in one statement. */
export async function listMembers(
  db: Db,
  caller: ProjectCaller,
  imageId: string | null,
): Promise<{ image: ImageAccess | null; members: MemberRow[] }> {
  const { results } = await db
    .prepare(
      `SELECT ${ACCESS}, m.image_id, m.member_id, m.status, m.created_at, m.updated_at
       FROM images i LEFT JOIN image_members m ON m.image_id = i.id
         AND (?3 = 1 OR i.owner = ?2 OR m.member_id = ?2)
       WHERE i.id = ?1
       ORDER BY m.created_at, m.member_id`,
    )
    .bind(imageId, caller.projectId, flag(caller.isAdmin))
    .all<AccessWithMemberRow>();
  return {
    image: access(results[0]),
    members: results.map(memberOf).filter((m): m is MemberRow => m !== null),
  };
}

export async function showMember(
  db: Db,
  caller: ProjectCaller,
  imageId: string | null,
  memberId: string,
): Promise<Lookup> {
  return lookup(await readAccessWithMember(db, imageId, caller, memberId).first<AccessWithMemberRow>());
}

export type WriteResult = Lookup & { written: MemberRow | null };

/**
 * Sets a member's status when the caller is that member (and not the owner) or an admin, and
 * the image takes members. `status` null only reads (the body's status is checked after the
 * lookups, SPEC §5.4), which keeps every outcome at one round trip.
 */
export async function updateMemberStatus(
  db: Db,
  caller: ProjectCaller,
  imageId: string | null,
  memberId: string,
  status: MemberStatus | null,
): Promise<WriteResult> {
  const read = readAccessWithMember(db, imageId, caller, memberId);
  if (status === null) return { ...lookup(await read.first<AccessWithMemberRow>()), written: null };
  const update = db
    .prepare(
      `UPDATE image_members SET status = ?4, updated_at = ?5
       WHERE image_id = ?1 AND member_id = ?3
         AND EXISTS (SELECT 1 FROM images i WHERE i.id = ?1 AND i.visibility IN ('shared', 'private')
           AND (?6 = 1 OR (?3 = ?2 AND i.owner IS NOT ?2)))
       RETURNING ${MEMBER_COLUMNS}`,
    )
    .bind(imageId, caller.projectId, memberId, status, now(), flag(caller.isAdmin));
  const [before, updated] = await db.batch<unknown>([read, update]);
  return {
    ...lookup(before?.results[0] as AccessWithMemberRow | undefined),
    written: (updated?.results[0] as MemberRow | undefined) ?? null,
  };
}

/** Removes a member when the caller owns the image or is admin, and the image takes members. */
export async function deleteMember(
  db: Db,
  caller: ProjectCaller,
  imageId: string | null,
  memberId: string,
): Promise<WriteResult> {
  const read = readAccessWithMember(db, imageId, caller, memberId);
  const remove = db
    .prepare(
      `DELETE FROM image_members
       WHERE image_id = ?1 AND member_id = ?3
         AND EXISTS (SELECT 1 FROM images i WHERE i.id = ?1 AND i.visibility IN ('shared', 'private')
           AND (?4 = 1 OR i.owner = ?2))
       RETURNING ${MEMBER_COLUMNS}`,
    )
    .bind(imageId, caller.projectId, memberId, flag(caller.isAdmin));
  const [before, removed] = await db.batch<unknown>([read, remove]);
  return {
    ...lookup(before?.results[0] as AccessWithMemberRow | undefined),
    written: (removed?.results[0] as MemberRow | undefined) ?? null,
  };
}
