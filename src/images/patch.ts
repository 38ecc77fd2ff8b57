import type { Db } from "../env";
import { ApiError } from "../http/errors";
import {
  type Ask,
  type Authorizer,
  changeSteps,
  checkReservedNamespace,
  checkWritableKeys,
  type ImageStep,
  PATCH_READ,
} from "./rules";
import { BASE_COLUMNS, checkDocument, type ImageDocument, type ImageIdParam, type PatchOp } from "./schemas";
import { documentOf, type ImageRow, readImage, updateImage } from "./store";

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
 * Applies the changes to an image document in order (docs/reference.md §8 PATCH), calling `check` before
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

/**
 * PATCH /v2/images/{image_id} (docs/reference.md §8): the image as it ends. Optimistic: the changes apply to
 * the image as read, and the write happens only if nobody wrote in between and the rules asked
 * on the way still hold for the image as it is then (a membership may have gone meanwhile);
 * after three lost races, 409. Each try is one read and, unless the patch is empty, one write.
 */
export async function patchImage(
  db: Db,
  project: string,
  az: Authorizer,
  imageId: ImageIdParam,
  changes: readonly Change[],
): Promise<ImageRow> {
  const ask: Ask = { image: imageId.raw };
  for (let attempt = 0; attempt < 3; attempt++) {
    const image = az.permit(PATCH_READ, await readImage(db, project, imageId.id), ask);
    const asked: ImageStep[] = [...PATCH_READ];
    const doc = checkDocument(
      applyPatch(documentOf(image), changes, (change) => {
        const value = change.op === "remove" ? undefined : change.value;
        const list = changeSteps(change.op, change.key, value, image.owner);
        az.permit(list, image, ask);
        asked.push(...list);
      }),
    );
    // Glance saves nothing for an empty patch.
    if (changes.length === 0) return image;
    const updated = await updateImage(db, image.id, image.revision, doc, az.guard(asked));
    if (updated) return updated;
  }
  throw new ApiError(409, "The image was changed by another request; try again.");
}
