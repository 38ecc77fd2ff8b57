import type { ProjectCaller } from "../auth/caller";
import { ApiError } from "../http/errors";
import { type ImageDocument, READ_ONLY, RESERVED } from "./schemas";

/** Who may see and change images (SPEC §4, §8): pure functions of the caller and the image. */
export interface ImageOwnership {
  owner: string | null;
  visibility: string;
  protected: boolean;
}

export const noImage = (id: string) => new ApiError(404, `No image found with ID ${id}`);

/** Read-only and reserved attributes, in Glance's words; checked before the schema. */
export function checkWritableKeys(keys: Iterable<string>): void {
  for (const key of keys) {
    if (RESERVED.has(key)) throw new ApiError(403, `Attribute '${key}' is reserved.`);
    if (READ_ONLY.has(key)) throw new ApiError(403, `Attribute '${key}' is read-only.`);
  }
}

/** Publicising and giving images away are admin acts. */
export function checkOwnershipAndVisibility(
  caller: ProjectCaller,
  doc: ImageDocument,
  before: { owner: string | null; visibility: string } | null,
): void {
  if (caller.isAdmin) return;
  if (doc.visibility === "public" && before?.visibility !== "public") {
    throw new ApiError(403, "You are not authorized to complete publicize_image action.");
  }
  if ("owner" in doc && doc.owner !== (before ? before.owner : caller.projectId)) {
    throw new ApiError(
      403,
      before
        ? "You are not permitted to modify 'owner' on this image."
        : `You are not permitted to create images owned by '${String(doc.owner)}'.`,
    );
  }
}

/** PATCH and DELETE: only the owner or an admin changes an image others can see. */
export function checkOwner(caller: ProjectCaller, image: ImageOwnership): void {
  if (!caller.isAdmin && image.owner !== caller.projectId) {
    throw new ApiError(403, "You do not own this image");
  }
}

export function checkDeletable(caller: ProjectCaller, id: string, image: ImageOwnership): void {
  checkOwner(caller, image);
  if (image.protected) throw new ApiError(403, `Image ${id} is protected and cannot be deleted.`);
}

/**
 * Why an upload of data may not start, in Glance's order and words: only the owner or an admin
 * uploads (anyone who sees the image downloads), only into a `queued` image, and only once its
 * disk and container formats are set.
 */
export function checkUpload(
  caller: ProjectCaller,
  id: string,
  image: {
    owner: string | null;
    status: string;
    disk_format: string | null;
    container_format: string | null;
  },
): void {
  if (!caller.isAdmin && image.owner !== caller.projectId) {
    throw new ApiError(403, `Not allowed to upload image data for image ${id}`);
  }
  if (image.status !== "queued") {
    throw new ApiError(409, `Image status transition from ${image.status} to saving is not allowed`);
  }
  const missing = (["disk_format", "container_format"] as const).filter((k) => image[k] === null);
  if (missing.length > 0) {
    throw new ApiError(
      400,
      `${missing.length === 1 ? "Property" : "Properties"} ${missing.join(", ")} must be set prior to saving data.`,
    );
  }
}
