import { ApiError } from "../http/errors";
import { type ListQuery, listQuery } from "./schemas";

/** GET /v2/images query rules (docs/reference.md §8.3), turned into a plan the store runs. Pure. */
export const SORT_KEYS = [
  "name",
  "status",
  "container_format",
  "disk_format",
  "size",
  "virtual_size",
  "id",
  "created_at",
  "updated_at",
  "visibility",
  "owner",
  "min_ram",
  "min_disk",
  "protected",
  "os_hidden",
] as const;
export type SortKey = (typeof SORT_KEYS)[number];

/** Image columns the list filters on by exact value. */
export const FILTER_COLUMNS = [
  "owner",
  "name",
  "status",
  "disk_format",
  "container_format",
  "checksum",
  "os_hash_value",
  "size",
  "min_ram",
  "min_disk",
] as const;
export type FilterColumn = (typeof FILTER_COLUMNS)[number];
const KNOWN_PARAMS = new Set<string>(Object.keys(listQuery.shape));
/** Sort keys whose columns are NOT NULL in migrations/0001. */
export const NOT_NULL_KEYS: ReadonlySet<SortKey> = new Set<SortKey>([
  "id",
  "status",
  "visibility",
  "created_at",
  "updated_at",
  "min_ram",
  "min_disk",
  "protected",
  "os_hidden",
]);
export type SortDir = "asc" | "desc";

export interface ListPlan {
  admin: boolean;
  project: string;
  limit: number;
  marker: string | null;
  visibility: "public" | "private" | "shared" | "community" | "all" | null;
  memberStatus: "accepted" | "pending" | "rejected" | "all";
  /** Column = value filters. */
  equal: [FilterColumn, string | number][];
  sizeMin: number | null;
  sizeMax: number | null;
  /** Custom property = value filters. */
  properties: [string, string][];
  tags: string[];
  osHidden: boolean;
  protected: boolean | null;
  sort: { key: SortKey; dir: SortDir }[];
}

const list = (v: string | string[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

function sortKey(k: string): SortKey {
  const key = SORT_KEYS.find((s) => s === k);
  if (!key)
    throw new ApiError(
      400,
      `Invalid sort key: ${k}. It must be one of the following: ${SORT_KEYS.join(", ")}.`,
    );
  return key;
}

function sortDir(d: string): SortDir {
  if (d !== "asc" && d !== "desc") throw new ApiError(400, `Invalid sort direction: ${d}`);
  return d;
}

/** Glance's order: given keys, then created_at and id as tie-breakers in the default direction. */
function sorting(q: ListQuery): { key: SortKey; dir: SortDir }[] {
  const keys = list(q.sort_key);
  const dirs = list(q.sort_dir);
  let sort: { key: SortKey; dir: SortDir }[];
  let fallback: SortDir = "desc";
  if (q.sort !== undefined) {
    if (keys.length > 0 || dirs.length > 0) {
      throw new ApiError(400, "The 'sort' parameter is not compatible with 'sort_key' and 'sort_dir'.");
    }
    sort = q.sort.split(",").map((part) => {
      const [k = "", d, ...rest] = part.trim().split(":");
      if (rest.length > 0) throw new ApiError(400, `Invalid sort value: ${part}`);
      return { key: sortKey(k.trim()), dir: d === undefined ? "desc" : sortDir(d.trim()) };
    });
    // Glance: with exactly one direction given, the tie-breakers follow it.
    if (sort.length === 1) fallback = (sort[0] as { dir: SortDir }).dir;
  } else {
    if (dirs.length > 1 && dirs.length !== keys.length) {
      throw new ApiError(400, "Number of sort dirs does not match the number of sort keys");
    }
    if (dirs.length === 1) fallback = sortDir(dirs[0] as string);
    sort = keys.map((k, i) => ({
      key: sortKey(k),
      dir: dirs.length > 1 ? sortDir(dirs[i] as string) : fallback,
    }));
  }
  for (const key of ["created_at", "id"] as const) {
    if (!sort.some((s) => s.key === key)) sort.push({ key, dir: fallback });
  }
  return sort;
}

/** `admin`: context_is_admin holds (Glance's database layer lists everything for it). */
export function planList(caller: { admin: boolean; project: string }, q: ListQuery): ListPlan {
  return {
    admin: caller.admin,
    project: caller.project,
    limit: q.limit ?? 25,
    marker: q.marker ?? null,
    visibility: q.visibility ?? null,
    memberStatus: q.member_status ?? "accepted",
    equal: FILTER_COLUMNS.flatMap((k) =>
      q[k] === undefined ? [] : [[k, q[k]] as [FilterColumn, string | number]],
    ),
    sizeMin: q.size_min ?? null,
    sizeMax: q.size_max ?? null,
    properties: Object.entries(q).filter(
      (entry): entry is [string, string] => !KNOWN_PARAMS.has(entry[0]) && typeof entry[1] === "string",
    ),
    tags: list(q.tag),
    osHidden: q.os_hidden ?? false,
    protected: q.protected ?? null,
    sort: sorting(q),
  };
}
