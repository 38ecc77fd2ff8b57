import { type Actor, inContext } from "../audit/context";
import { flag, isUniqueViolation, now, Params } from "../db/sql";
import type { Db } from "../env";
import { membershipSql, type TargetImage } from "../policy/image-target";
import { type ListPlan, NOT_NULL_KEYS } from "./list";
import type { ImageDocument, Visibility } from "./schemas";

/** All image SQL. Column names stay here and in view.ts. A row is what the rules read, and more. */
export interface ImageRow extends TargetImage {
  /** The policy target takes any text; a row holds what migrations/0001's CHECK lets in. */
  visibility: Visibility;
  tags: string;
  created_at: string;
  updated_at: string;
  revision: number;
}

export const IMAGE_COLUMNS =
  "i.id, i.owner, i.visibility, i.name, i.disk_format, i.container_format, i.size, i.virtual_size, i.status, i.checksum, i.os_hash_algo, i.os_hash_value, i.protected, i.os_hidden, i.min_ram, i.min_disk, i.tags, i.properties, i.created_at, i.updated_at, i.revision";

/** The route's rules as SQL over image `i`, placeholders from the statement's Params. */
export type Guard = (param: (v: unknown) => string) => string;

/** An image row and whether the caller's project holds a membership of it (the rules' facts). */
export type ImageFacts = ImageRow & { callerIsMember: boolean };
export type FactsRow = ImageRow & { caller_is_member: 0 | 1 };

/** Image `i` whatever the caller may see, and whether ?2 (the caller's project) is a member. */
export const FACTS_COLUMNS = `${IMAGE_COLUMNS}, ${membershipSql("?2")} AS caller_is_member`;
const READ = `SELECT ${FACTS_COLUMNS} FROM images i WHERE i.id = ?1`;

/** The one decoding of a FACTS_COLUMNS row (other columns of the row pass through). */
export function facts(row: FactsRow | null | undefined): ImageFacts | null {
  if (!row) return null;
  const { caller_is_member, ...image } = row;
  return { ...image, callerIsMember: caller_is_member === 1 };
}

export const readFacts = (db: Db, project: string, id: string | null) => db.prepare(READ).bind(id, project);

/** What one statement of a batch read: the image as the rules see it, or null. */
export const factsOf = (result: D1Result<unknown> | undefined) =>
  facts(result?.results[0] as FactsRow | undefined);

/** Whether the write of a batch touched its row. */
export const wrote = (result: D1Result<unknown> | undefined) => (result?.results.length ?? 0) > 0;

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
    visibility: row.visibility,
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

/**
 * Inserts a new image; null when the id is taken or ever was. The insert claims the id in
 * `image_ids` in the same statement (trigger image_ids_claim, migrations/0004), so the UNIQUE
 * violation of either table is the whole check: no read first, and one round trip.
 */
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

/** The image and the caller's membership, in one statement: GET, download, PATCH's read. */
export async function readImage(db: Db, project: string, id: string | null): Promise<ImageFacts | null> {
  return facts(await readFacts(db, project, id).first<FactsRow>());
}

/**
 * Writes a changed document if nobody else changed the image since `revision` was read and the
 * route's rules (`guard`) still hold for it; null when either is not so (the caller reads again).
 */
export async function updateImage(
  db: Db,
  id: string,
  revision: number,
  doc: ImageDocument,
  guard: Guard,
): Promise<ImageRow | null> {
  const p = new Params(id, revision, ...written(doc), now());
  const set = slots(3).map((slot, n) => `${WRITTEN[n]} = ${slot}`);
  return db
    .prepare(
      `UPDATE images AS i SET ${set.join(", ")}, updated_at = ?${WRITTEN.length + 3}, revision = revision + 1
       WHERE i.id = ?1 AND i.revision = ?2 AND ${guard(p.param)}
       RETURNING ${RETURNED}`,
    )
    .bind(...p.values)
    .first<ImageRow>();
}

/**
 * Deletes the image (its members go with it, ON DELETE CASCADE) when the route's rules — the
 * protected flag among them — hold, in one batch with the read that explains a refusal.
 */
export async function deleteImage(db: Db, project: string, actor: Actor, id: string | null, guard: Guard) {
  const p = new Params(id);
  const remove = db
    .prepare(`DELETE FROM images AS i WHERE i.id = ?1 AND ${guard(p.param)} RETURNING id`)
    .bind(...p.values);
  // In the actor's context: the memberships it removes are recorded (docs/reference.md §12.4, migrations/0005).
  const [before, removed] = await inContext(db, actor, [readFacts(db, project, id), remove]);
  return { image: factsOf(before), deleted: wrote(removed) };
}

/**
 * Moves the image from `from` to `to` (deactivate, reactivate) when the route's rules hold,
 * in one UPDATE batched with the read that explains why it did not.
 */
export async function setStatus(
  db: Db,
  project: string,
  id: string | null,
  from: string,
  to: string,
  guard: Guard,
) {
  const p = new Params(id, from, to, now());
  const update = db
    .prepare(
      `UPDATE images AS i SET status = ?3, updated_at = ?4, revision = revision + 1
       WHERE i.id = ?1 AND i.status = ?2 AND ${guard(p.param)}
       RETURNING id`,
    )
    .bind(...p.values);
  const [before, changed] = await db.batch<unknown>([readFacts(db, project, id), update]);
  return { image: factsOf(before), changed: wrote(changed) };
}

/** The image's tags hold ?2. */
const HAS_TAG = "EXISTS (SELECT 1 FROM json_each(i.tags) t WHERE t.value = ?2)";

/**
 * Adds a tag (a tag already there leaves the image as it is) when the route's rules hold and
 * the tag quota (negative: unlimited) leaves room, all inside one UPDATE, batched with the read
 * that explains a refusal. `count`: how many tags the image had then.
 */
export async function addTag(
  db: Db,
  project: string,
  id: string | null,
  tag: string,
  quota: number,
  guard: Guard,
) {
  const p = new Params(id, tag, now(), quota);
  const update = db
    .prepare(
      `UPDATE images AS i
       SET tags = CASE WHEN ${HAS_TAG} THEN i.tags ELSE json_insert(i.tags, '$[#]', ?2) END,
           updated_at = CASE WHEN ${HAS_TAG} THEN i.updated_at ELSE ?3 END,
           revision = CASE WHEN ${HAS_TAG} THEN i.revision ELSE i.revision + 1 END
       WHERE i.id = ?1 AND ${guard(p.param)}
         AND (?4 < 0 OR ${HAS_TAG} OR (SELECT COUNT(*) FROM json_each(i.tags)) < ?4)
       RETURNING id`,
    )
    .bind(...p.values);
  const [before, changed] = await db.batch<unknown>([readFacts(db, project, id), update]);
  const image = factsOf(before);
  return { image, written: wrote(changed), count: image ? (JSON.parse(image.tags) as string[]).length : 0 };
}

/** Removes a tag the image has when the route's rules hold, in one UPDATE batched with the read. */
export async function removeTag(db: Db, project: string, id: string | null, tag: string, guard: Guard) {
  const p = new Params(id, tag, now());
  const update = db
    .prepare(
      `UPDATE images AS i
       SET tags = (SELECT json_group_array(t.value) FROM json_each(i.tags) t WHERE t.value <> ?2),
           updated_at = ?3, revision = i.revision + 1
       WHERE i.id = ?1 AND ${guard(p.param)} AND ${HAS_TAG}
       RETURNING id`,
    )
    .bind(...p.values);
  const [before, changed] = await db.batch<unknown>([readFacts(db, project, id), update]);
  const image = factsOf(before);
  return {
    image,
    written: wrote(changed),
    hadTag: image ? (JSON.parse(image.tags) as string[]).includes(tag) : false,
  };
}

/**
 * One page of the image list (docs/reference.md §8.3) as one batch: whether the marker is an image the
 * caller may see (`visible`), and the page after it, of images that pass `listed` (Glance
 * filters its database's page through get_image).
 *
 * A non-admin's page is the union of disjoint arms, one per reason the caller sees an image,
 * each read on its own index in the page's order and cut at the page's LIMIT, then merged and
 * cut again: others' public images (images_by_visibility), the caller's own (images_by_owner),
 * others' community ones when asked for (images_by_visibility), and others' shared or private
 * ones it is a member of (from its memberships, image_members_by_member). Every filter and the
 * marker's keyset condition apply inside each arm, so each arm's LIMIT rows are its first rows
 * of the page. One walk of images_by_created filtered by visibility read every image of others
 * newer than the caller's page instead.
 *
 * Bounded by the page for created_at (the default order, either direction): each index ends in
 * (created_at, id). The member arm reads all the caller's memberships whatever the order (the
 * images' order is not in image_members). For another sort key each arm still reads only its
 * own kind of image, but all of them after the marker, and sorts them — the public arm every
 * public image of others, the community arm every community one: no index starts with
 * (visibility, key) or (owner, key), and one per pair of key and arm is more indexes than the
 * sort is worth. A filter narrows what an arm returns, not where it reads: the arm walks its
 * index until LIMIT rows pass (a name no public image has reads every public image).
 */
export async function listImages(
  db: Db,
  plan: ListPlan,
  rules: { listed: Guard; visible: Guard },
): Promise<{ markerFound: boolean; rows: ImageRow[] }> {
  const binds: unknown[] = [plan.project];
  const bind = (v: unknown) => {
    binds.push(v);
    return `?${binds.length}`;
  };
  // A non-admin's arms each walk their own index (below): "+" keeps SQLite from walking the
  // index of a filtered column instead (images_by_protected for protected=false, say), which
  // would read others' images the caller does not see. An admin's one walk takes any index.
  const column = (name: string) => `${plan.admin ? "" : "+"}i.${name}`;
  // What every arm (or an admin's one walk) filters by.
  const where: string[] = [];
  const listed = rules.listed(bind);
  if (listed !== "1") where.push(listed);
  if (plan.visibility !== null && plan.visibility !== "all")
    where.push(`${column("visibility")} = ${bind(plan.visibility)}`);
  // Column names come from FILTER_COLUMNS, never from the request.
  for (const [name, value] of plan.equal) where.push(`${column(name)} = ${bind(value)}`);
  if (plan.sizeMin !== null) where.push(`${column("size")} >= ${bind(plan.sizeMin)}`);
  if (plan.sizeMax !== null) where.push(`${column("size")} <= ${bind(plan.sizeMax)}`);
  for (const [key, value] of plan.properties) {
    where.push(
      `EXISTS (SELECT 1 FROM json_each(i.properties) p WHERE p.key = ${bind(key)} AND p.value = ${bind(value)})`,
    );
  }
  for (const tag of plan.tags)
    where.push(`EXISTS (SELECT 1 FROM json_each(i.tags) t WHERE t.value = ${bind(tag)})`);
  // No index starts with os_hidden; left bare, it makes a sort by os_hidden a sort by the rest.
  where.push(`i.os_hidden = ${bind(flag(plan.osHidden))}`);
  if (plan.protected !== null) where.push(`${column("protected")} = ${bind(flag(plan.protected))}`);

  let marked = "";
  if (plan.marker !== null) {
    // Keyset pagination: rows strictly after the marker in the sort order, NULLs first when ascending.
    // First in every join (CROSS JOIN keeps the order): one lookup, not one per membership.
    marked = `(SELECT * FROM images WHERE id = ${bind(plan.marker)}) mk CROSS JOIN `;
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
    // at the top (only for keys without NULLs, where the range is exact). A non-admin's arms
    // walk indexes that end in (created_at, id): only created_at starts them at the marker.
    const lead = plan.sort[0];
    if (lead && NOT_NULL_KEYS.has(lead.key)) {
      const key = lead.key === "created_at" ? "i.created_at" : column(lead.key);
      where.push(`${key} ${lead.dir === "asc" ? ">=" : "<="} mk.${lead.key}`);
    }
  }
  const by = (prefix: string) =>
    plan.sort.map((s) => `${prefix}${s.key} ${s.dir === "asc" ? "ASC" : "DESC"}`).join(", ");
  const limit = bind(plan.limit);
  const arm = (from: string, scope: string[]) =>
    `SELECT ${IMAGE_COLUMNS} FROM ${marked}${from} WHERE ${[...scope, ...where].join(" AND ")}
     ORDER BY ${by("i.")} LIMIT ${limit}`;

  const allVis = plan.visibility === "community" || plan.visibility === "all";
  let sql: string;
  if (plan.admin) {
    // Admins see everything but others' community images, unless they ask for community or all.
    sql = arm("images i", allVis ? [] : ["(i.visibility <> 'community' OR i.owner = ?1)"]);
  } else {
    // Only the arms the visibility and owner filters leave anything in: an arm whose rows they
    // all refuse would still read them all on its index.
    const wants = (...v: string[]) =>
      plan.visibility === null || plan.visibility === "all" || v.includes(plan.visibility);
    const owner = plan.equal.find(([name]) => name === "owner")?.[1];
    const mine = owner === undefined || owner === plan.project;
    const others = owner !== plan.project;
    const arms: string[] = [];
    if (others && wants("public"))
      arms.push(arm("images i", ["i.visibility = 'public'", "i.owner IS NOT ?1"]));
    if (mine) arms.push(arm("images i", ["i.owner = ?1"]));
    if (others && allVis) arms.push(arm("images i", ["i.visibility = 'community'", "i.owner IS NOT ?1"]));
    if (others && wants("shared", "private")) {
      const status = plan.memberStatus === "all" ? [] : [`m.status = ${bind(plan.memberStatus)}`];
      // CROSS JOIN: SQLite keeps this join order, from the caller's memberships to their images.
      // "+": the visibility index would read every shared image.
      arms.push(
        arm("live_members m CROSS JOIN images i ON i.id = m.image_id", [
          "m.member_id = ?1",
          ...status,
          "+i.visibility IN ('shared', 'private')",
          "i.owner IS NOT ?1",
        ]),
      );
    }
    sql =
      arms.length === 1
        ? (arms[0] as string)
        : `SELECT * FROM (${arms.map((a) => `SELECT * FROM (${a})`).join(" UNION ALL ")})
           ORDER BY ${by("")} LIMIT ${limit}`;
  }
  const page = db.prepare(sql).bind(...binds);
  if (plan.marker === null) {
    const { results } = await page.all<ImageRow>();
    return { markerFound: true, rows: results };
  }
  const p = new Params(plan.marker);
  const marker = db
    .prepare(`SELECT 1 AS found FROM images i WHERE i.id = ?1 AND ${rules.visible(p.param)}`)
    .bind(...p.values);
  const [found, rows] = await db.batch<unknown>([marker, page]);
  return { markerFound: (found?.results.length ?? 0) > 0, rows: (rows?.results ?? []) as ImageRow[] };
}
