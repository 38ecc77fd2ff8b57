import type { ProjectCaller } from "../auth/caller";
import { flag, isUniqueViolation, now } from "../db/sql";
import type { Db } from "../env";
import { type ListPlan, NOT_NULL_KEYS } from "./list";
import type { ImageDocument } from "./schemas";

/** All image SQL. Column names stay here and in view.ts. */
export interface ImageRow {
  id: string;
  owner: string | null;
  visibility: string;
  name: string | null;
  disk_format: string | null;
  container_format: string | null;
  size: number | null;
  virtual_size: number | null;
  status: string;
  checksum: string | null;
  os_hash_algo: string | null;
  os_hash_value: string | null;
  protected: 0 | 1;
  os_hidden: 0 | 1;
  min_ram: number;
  min_disk: number;
  tags: string;
  properties: string;
  created_at: string;
  updated_at: string;
  revision: number;
}

export const IMAGE_COLUMNS =
  "i.id, i.owner, i.visibility, i.name, i.disk_format, i.container_format, i.size, i.virtual_size, i.status, i.checksum, i.os_hash_algo, i.os_hash_value, i.protected, i.os_hidden, i.min_ram, i.min_disk, i.tags, i.properties, i.created_at, i.updated_at, i.revision";

/** SQL: the caller (?admin flag, ?project) may see image i (SPEC §4). */
export const visibleTo = (admin: string, project: string) =>
  `(${admin} = 1 OR i.owner = ${project} OR i.visibility IN ('public', 'community')
    OR EXISTS (SELECT 1 FROM image_members v WHERE v.image_id = i.id AND v.member_id = ${project}))`;

/** Splits a client's image document into table columns and custom properties. */
function columns(doc: ImageDocument) {
  const {
    name,
    visibility,
    protected: prot,
    os_hidden,
    container_format,
    disk_format,
    tags,
    min_ram,
    min_disk,
    owner,
    ...props
  } = doc;
  return {
    name: name ?? null,
    visibility: visibility ?? "shared",
    protected: flag(prot ?? false),
    os_hidden: flag(os_hidden ?? false),
    container_format: container_format ?? null,
    disk_format: disk_format ?? null,
    tags: JSON.stringify([...new Set(tags ?? [])]),
    min_ram: min_ram ?? 0,
    min_disk: min_disk ?? 0,
    owner: owner === undefined ? null : owner,
    properties: JSON.stringify(props),
  };
}

/** A stored image back as the document a client wrote (for PATCH). */
export function documentOf(row: ImageRow): ImageDocument {
  return {
    ...(JSON.parse(row.properties) as Record<string, string>),
    name: row.name,
    visibility: row.visibility as ImageDocument["visibility"],
    protected: row.protected === 1,
    os_hidden: row.os_hidden === 1,
    container_format: row.container_format as ImageDocument["container_format"],
    disk_format: row.disk_format as ImageDocument["disk_format"],
    tags: JSON.parse(row.tags) as string[],
    min_ram: row.min_ram,
    min_disk: row.min_disk,
    owner: row.owner,
  } as ImageDocument;
}

/** The columns a client's document writes, in one order for INSERT and UPDATE. */
const WRITTEN = [
  "owner",
  "visibility",
  "name",
  "disk_format",
  "container_format",
  "protected",
  "os_hidden",
  "min_ram",
  "min_disk",
  "tags",
  "properties",
] as const;
const written = (doc: ImageDocument) => {
  const c = columns(doc);
  return WRITTEN.map((k) => c[k]);
};
/** ?first, ?first+1, … for the WRITTEN columns. */
const slots = (first: number) => WRITTEN.map((_, n) => `?${first + n}`);
const RETURNED = IMAGE_COLUMNS.replaceAll("i.", "");

/** Inserts a new image; null when the id is taken. */
export async function createImage(db: Db, id: string, doc: ImageDocument): Promise<ImageRow | null> {
  const at = `?${WRITTEN.length + 2}`;
  try {
    return await db
      .prepare(
        `INSERT INTO images (id, ${WRITTEN.join(", ")}, created_at, updated_at)
         VALUES (?1, ${slots(2).join(", ")}, ${at}, ${at})
         RETURNING ${RETURNED}`,
      )
      .bind(id, ...written(doc), now())
      .first<ImageRow>();
  } catch (err) {
    if (isUniqueViolation(err)) return null;
    throw err;
  }
}

/** The image if the caller may see it, in one statement. */
export async function getVisibleImage(
  db: Db,
  caller: ProjectCaller,
  id: string | null,
): Promise<ImageRow | null> {
  return db
    .prepare(`SELECT ${IMAGE_COLUMNS} FROM images i WHERE i.id = ?1 AND ${visibleTo("?2", "?3")}`)
    .bind(id, flag(caller.isAdmin), caller.projectId)
    .first<ImageRow>();
}

/**
 * Writes a changed document if nobody else changed the image since `revision` was read;
 * null when someone did (the caller retries on the new state).
 */
export async function updateImage(
  db: Db,
  id: string,
  revision: number,
  doc: ImageDocument,
): Promise<ImageRow | null> {
  const set = slots(3).map((slot, n) => `${WRITTEN[n]} = ${slot}`);
  return db
    .prepare(
      `UPDATE images SET ${set.join(", ")}, updated_at = ?${WRITTEN.length + 3}, revision = revision + 1
       WHERE id = ?1 AND revision = ?2
       RETURNING ${RETURNED}`,
    )
    .bind(id, revision, ...written(doc), now())
    .first<ImageRow>();
}

/**
 * Deletes the image (its members go with it, ON DELETE CASCADE) when the caller owns it or is
 * admin and it is not protected, in one batch with the read that explains a refusal.
 */
export async function deleteImage(db: Db, caller: ProjectCaller, id: string | null) {
  const read = db
    .prepare(`SELECT ${IMAGE_COLUMNS} FROM images i WHERE i.id = ?1 AND ${visibleTo("?2", "?3")}`)
    .bind(id, flag(caller.isAdmin), caller.projectId);
  const remove = db
    .prepare(
      `DELETE FROM images WHERE id = ?1 AND protected = 0 AND (?2 = 1 OR owner = ?3) RETURNING id, status`,
    )
    .bind(id, flag(caller.isAdmin), caller.projectId);
  const [before, removed] = await db.batch<unknown>([read, remove]);
  return {
    image: (before?.results[0] as ImageRow | undefined) ?? null,
    deleted: (removed?.results.length ?? 0) > 0,
  };
}

/**
 * One page of the image list (SPEC §8.3) as one batch: whether the marker is an image the
 * caller may see, and the page after it.
 */
export async function listImages(
  db: Db,
  plan: ListPlan,
): Promise<{ markerFound: boolean; rows: ImageRow[] }> {
  const binds: unknown[] = [flag(plan.admin), plan.project];
  const bind = (v: unknown) => {
    binds.push(v);
    return `?${binds.length}`;
  };
  const where: string[] = [];
  const allVis = plan.visibility === "community" || plan.visibility === "all";
  if (plan.admin) {
    // Admins see everything but others' community images, unless they ask for community or all.
    if (!allVis) where.push("(i.visibility <> 'community' OR i.owner = ?2)");
  } else {
    const status = plan.memberStatus === "all" ? "" : ` AND m.status = ${bind(plan.memberStatus)}`;
    // The membership branch starts from the caller's memberships (image_members_by_member), not
    // from every shared image; "+" keeps SQLite from choosing the visibility index for it.
    where.push(`(i.visibility = 'public' OR i.owner = ?2
      ${allVis ? "OR i.visibility = 'community'" : ""}
      OR (+i.visibility IN ('shared', 'private') AND i.id IN (
        SELECT m.image_id FROM image_members m WHERE m.member_id = ?2${status})))`);
  }
  if (plan.visibility !== null && plan.visibility !== "all")
    where.push(`i.visibility = ${bind(plan.visibility)}`);
  // Column names come from FILTER_COLUMNS, never from the request.
  for (const [column, value] of plan.equal) where.push(`i.${column} = ${bind(value)}`);
  if (plan.sizeMin !== null) where.push(`i.size >= ${bind(plan.sizeMin)}`);
  if (plan.sizeMax !== null) where.push(`i.size <= ${bind(plan.sizeMax)}`);
  for (const [key, value] of plan.properties) {
    where.push(
      `EXISTS (SELECT 1 FROM json_each(i.properties) p WHERE p.key = ${bind(key)} AND p.value = ${bind(value)})`,
    );
  }
  for (const tag of plan.tags)
    where.push(`EXISTS (SELECT 1 FROM json_each(i.tags) t WHERE t.value = ${bind(tag)})`);
  where.push(`i.os_hidden = ${bind(flag(plan.osHidden))}`);
  if (plan.protected !== null) where.push(`i.protected = ${bind(flag(plan.protected))}`);

  let from = "images i";
  if (plan.marker !== null) {
    // Keyset pagination: rows strictly after the marker in the sort order, NULLs first when ascending.
    from = `images i, (SELECT * FROM images WHERE id = ${bind(plan.marker)}) mk`;
    const after = plan.sort.map((s, n) => {
      const equal = plan.sort.slice(0, n).map((p) => `i.${p.key} IS mk.${p.key}`);
      const beyond =
        s.dir === "asc"
          ? `((mk.${s.key} IS NULL AND i.${s.key} IS NOT NULL) OR i.${s.key} > mk.${s.key})`
          : `(mk.${s.key} IS NOT NULL AND (i.${s.key} IS NULL OR i.${s.key} < mk.${s.key}))`;
      return `(${[...equal, beyond].join(" AND ")})`;
    });
    where.push(`(${after.join(" OR ")})`);
    // Redundant for the result, but lets SQLite start the index walk at the marker rather than
    // at the top (only for keys without NULLs, where the range is exact).
    const lead = plan.sort[0];
    if (lead && NOT_NULL_KEYS.has(lead.key)) {
      where.push(`i.${lead.key} ${lead.dir === "asc" ? ">=" : "<="} mk.${lead.key}`);
    }
  }
  const order = plan.sort.map((s) => `i.${s.key} ${s.dir === "asc" ? "ASC" : "DESC"}`).join(", ");
  const page = db
    .prepare(
      `SELECT ${IMAGE_COLUMNS} FROM ${from} WHERE ${where.join(" AND ")} ORDER BY ${order} LIMIT ${bind(plan.limit)}`,
    )
    .bind(...binds);
  if (plan.marker === null) {
    const { results } = await page.all<ImageRow>();
    return { markerFound: true, rows: results };
  }
  const marker = db
    .prepare(`SELECT 1 AS found FROM images i WHERE i.id = ?3 AND ${visibleTo("?1", "?2")}`)
    .bind(flag(plan.admin), plan.project, plan.marker);
  const [found, rows] = await db.batch<unknown>([marker, page]);
  return { markerFound: (found?.results.length ?? 0) > 0, rows: (rows?.results ?? []) as ImageRow[] };
}
