import { ApiError } from "../http/errors";
import { checkWritableKeys } from "./rules";
import { BASE_COLUMNS, type ImageDocument, type PatchOp } from "./schemas";

/** JSON pointer "/name" → "name"; Glance allows no nested paths for these attributes. */
function attribute(path: string): string {
  if (!path.startsWith("/") || path.length < 2)
    throw new ApiError(400, `Invalid JSON pointer for this resource: '${path}'`);
  const parts = path.slice(1).split("/");
  if (parts.length > 1) throw new ApiError(400, "Nested paths are not allowed");
  return (parts[0] as string).replaceAll("~1", "/").replaceAll("~0", "~");
}

const isBase = (key: string) => (BASE_COLUMNS as readonly string[]).includes(key);

/** Applies add/replace/remove operations to an image document (SPEC §8 PATCH). Pure. */
export function applyPatch(before: ImageDocument, ops: PatchOp[]): Record<string, unknown> {
  const doc: Record<string, unknown> = { ...before };
  for (const op of ops) {
    const key = attribute(op.path);
    checkWritableKeys([key]);
    if (key === "id") throw new ApiError(403, "Attribute 'id' is read-only.");
    switch (op.op) {
      case "add":
        doc[key] = op.value;
        break;
      case "replace":
        if (!(key in doc)) throw new ApiError(409, `Property ${key} does not exist.`);
        doc[key] = op.value;
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
