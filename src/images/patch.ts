import { ApiError } from "../http/errors";
import { checkReservedNamespace, checkWritableKeys } from "./rules";
import { BASE_COLUMNS, checkDocument, type ImageDocument, type PatchOp } from "./schemas";

/** One JSON-patch change on a top-level attribute, as Glance's deserializer leaves it. */
export type Change = { op: "add" | "replace"; key: string; value: unknown } | { op: "remove"; key: string };

/** JSON pointer "/name" → "name"; Glance allows no nested paths for these attributes. */
function attribute(path: string): string {
  if (!path.startsWith("/") || path.length < 2)
    throw new ApiError(400, `Invalid JSON pointer for this resource: '${path}'`);
  const parts = path.slice(1).split("/");
  if (parts.length > 1) throw new ApiError(400, "Nested paths are not allowed");
  return (parts[0] as string).replaceAll("~1", "/").replaceAll("~0", "~");
}

const isBase = (key: string) => (BASE_COLUMNS as readonly string[]).includes(key);

/**
 * What Glance's request deserializer checks of every change before the image is looked up or
 * any rule asked: the pointer, read-only and reserved attributes, and each value against the
 * image schema. Pure.
 */
export function parseChanges(ops: PatchOp[]): Change[] {
  return ops.map((op) => {
    const key = attribute(op.path);
    checkWritableKeys([key]);
    checkReservedNamespace([key]);
    if (key === "id") throw new ApiError(403, "Attribute 'id' is read-only.");
    if (op.op === "remove") return { op: op.op, key };
    checkDocument({ [key]: op.value });
    return { op: op.op, key, value: op.value };
  });
}

/**
 * Applies the changes to an image document in order (SPEC §8 PATCH), calling `check` before
 * each one, as Glance asks a change's rules just before it applies that change. Pure but for
 * what `check` throws.
 */
export function applyPatch(
  before: ImageDocument,
  changes: readonly Change[],
  check: (change: Change) => void,
): Record<string, unknown> {
  const doc: Record<string, unknown> = { ...before };
  for (const change of changes) {
    check(change);
    const { key } = change;
    switch (change.op) {
      case "add":
        doc[key] = change.value;
        break;
      case "replace":
        if (!(key in doc)) throw new ApiError(409, `Property ${key} does not exist.`);
        doc[key] = change.value;
        break;
      case "remove":
        if (isBase(key))
          throw new ApiError(403, `Attribute '${key}' is a base attribute and cannot be removed.`);
        if (!(key in doc)) throw new ApiError(409, `Property ${key} does not exist.`);
        delete doc[key];
        break;
    }
  }
  return doc;
}
