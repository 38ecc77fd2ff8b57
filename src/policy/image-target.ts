import type { Target } from "./check";

/**
 * The target of an image action as Glance's ImageTarget builds it (docs/reference.md §11), in two forms that
 * must agree: `imageTarget` for a row in hand (to explain a refusal) and `targetSql` for the
 * row SQLite is looking at (to guard the write). test/unit/policy-sql.test.ts checks they do.
 */
export interface TargetImage {
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
  properties: string;
}

/** Fields read as columns; their Python str() is what a check compares. */
const TEXT_COLUMNS = [
  "name",
  "disk_format",
  "container_format",
  "status",
  "checksum",
  "os_hash_algo",
  "os_hash_value",
] as const;
const NUMBER_COLUMNS = ["size", "virtual_size", "min_ram", "min_disk"] as const;
const FLAG_COLUMNS = ["protected", "os_hidden"] as const;

/** ?project holds a membership of image `i` (any status): the one definition (docs/reference.md §3, §4). */
export const membershipSql = (project: string) =>
  `EXISTS (SELECT 1 FROM live_members pm WHERE pm.image_id = i.id AND pm.member_id = ${project})`;

/**
 * The image as a target. `member_id` is the caller's project when it holds a membership and
 * does not own the image; otherwise absent, so a check on it fails (Glance: image.member).
 */
export function imageTarget(image: TargetImage, callerProject: string, callerIsMember: boolean): Target {
  const target: Record<string, unknown> = {};
  // Custom properties first: Glance's ImageTarget reads attributes before extra_properties.
  for (const [k, v] of Object.entries(JSON.parse(image.properties) as Record<string, unknown>)) target[k] = v;
  for (const k of TEXT_COLUMNS) target[k] = image[k];
  for (const k of NUMBER_COLUMNS) target[k] = image[k];
  for (const k of FLAG_COLUMNS) target[k] = image[k] === 1;
  target.id = image.id;
  target.image_id = image.id;
  target.owner = image.owner;
  target.project_id = image.owner;
  target.visibility = image.visibility;
  if (callerIsMember && image.owner !== callerProject) target.member_id = callerProject;
  else delete target.member_id;
  return target;
}

/** SQL for "key is in the target" (true: always) and for its Python str(), over image `i`. */
export function targetSql(
  key: string,
  project: string,
  param: (v: unknown) => string,
): { present: string | true; value: string } {
  if ((TEXT_COLUMNS as readonly string[]).includes(key))
    return { present: true, value: `COALESCE(i.${key}, 'None')` };
  if ((NUMBER_COLUMNS as readonly string[]).includes(key)) {
    return { present: true, value: `COALESCE(CAST(i.${key} AS TEXT), 'None')` };
  }
  if ((FLAG_COLUMNS as readonly string[]).includes(key)) {
    return { present: true, value: `(CASE i.${key} WHEN 1 THEN 'True' ELSE 'False' END)` };
  }
  switch (key) {
    case "id":
    case "image_id":
      return { present: true, value: "i.id" };
    case "owner":
    case "project_id":
      return { present: true, value: "COALESCE(i.owner, 'None')" };
    case "visibility":
      return { present: true, value: "i.visibility" };
    case "member_id":
      return { present: `(${membershipSql(project)} AND i.owner IS NOT ${project})`, value: project };
    default: {
      const k = param(key);
      return {
        present: `EXISTS (SELECT 1 FROM json_each(i.properties) pp WHERE pp.key = ${k})`,
        value: `(SELECT pp.value FROM json_each(i.properties) pp WHERE pp.key = ${k})`,
      };
    }
  }
}
