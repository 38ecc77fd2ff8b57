import type { ProjectCaller } from "../auth/caller";
import { ApiError } from "../http/errors";
import type { ImageIdParam } from "../images/schemas";

/**
 * Who may do what with members (SPEC §4, §5): pure functions of the caller and what one SQL
 * statement read about the image. Each returns the error that answers, or null to go on.
 * The store's write statements repeat the "may write" part as their WHERE clause, so a write
 * never depends on an earlier read; these functions explain why a write did not happen.
 */
export type Visibility = "public" | "community" | "shared" | "private";

export interface ImageAccess {
  visibility: Visibility;
  owner: string | null;
  /** The caller's project holds a membership of the image, in any status. */
  callerIsMember: boolean;
}

export const hasMembers = (image: ImageAccess) =>
  image.visibility === "shared" || image.visibility === "private";

export const isOwner = (caller: ProjectCaller, image: ImageAccess) => image.owner === caller.projectId;

export function isVisible(caller: ProjectCaller, image: ImageAccess): boolean {
  return caller.isAdmin || isOwner(caller, image) || !hasMembers(image) || image.callerIsMember;
}

const imageNotFound = (imageId: ImageIdParam) => new ApiError(404, `Image ${imageId.raw} not found.`);

export const memberNotFound = (imageId: ImageIdParam, memberId: string) =>
  new ApiError(404, `${memberId} not found in the member list of the image ${imageId.raw}.`);

/** Step "image not visible" of every member route: its existence never leaks. */
function visibleImage(caller: ProjectCaller, imageId: ImageIdParam, image: ImageAccess | null): ImageAccess {
  if (image === null || !isVisible(caller, image)) throw imageNotFound(imageId);
  return image;
}

type Action = "create" | "update" | "delete";

const notAllowed = (action: Action, imageId: ImageIdParam) =>
  new ApiError(403, `Not allowed to ${action} members for image ${imageId.raw}.`);

/** POST steps 3–5: visible, has members, owner or admin. */
export function checkAdd(caller: ProjectCaller, imageId: ImageIdParam, found: ImageAccess | null): void {
  const image = visibleImage(caller, imageId, found);
  if (!hasMembers(image)) throw notAllowed("create", imageId);
  if (!caller.isAdmin && !isOwner(caller, image)) throw notAllowed("create", imageId);
}

/** GET list steps 1–2; returns whether the caller sees every row (owner, admin) or only its own. */
export function checkList(caller: ProjectCaller, imageId: ImageIdParam, found: ImageAccess | null): void {
  const image = visibleImage(caller, imageId, found);
  if (!hasMembers(image)) {
    throw new ApiError(
      403,
      `Not allowed to list members for image ${imageId.raw}: Only shared images have members.`,
    );
  }
}

/** The rows a caller may see: all of them for the owner and admins, else only its own. */
export const seesAllMembers = (caller: ProjectCaller, image: ImageAccess) =>
  caller.isAdmin || isOwner(caller, image);

export const mayReadMember = (caller: ProjectCaller, image: ImageAccess, memberId: string) =>
  seesAllMembers(caller, image) || memberId === caller.projectId;

/** GET show steps 1–3. */
export function checkShow(
  caller: ProjectCaller,
  imageId: ImageIdParam,
  memberId: string,
  found: ImageAccess | null,
  rowExists: boolean,
): void {
  const image = visibleImage(caller, imageId, found);
  if (!hasMembers(image)) throw new ApiError(404, "Only shared images have members.");
  if (!rowExists || !mayReadMember(caller, image, memberId)) throw memberNotFound(imageId, memberId);
}

/** PUT steps 2–5: the member itself or an admin; the owner never sets a member's status. */
export function checkUpdate(
  caller: ProjectCaller,
  imageId: ImageIdParam,
  memberId: string,
  found: ImageAccess | null,
  rowExists: boolean,
): void {
  const image = visibleImage(caller, imageId, found);
  if (!hasMembers(image)) throw notAllowed("update", imageId);
  if (isOwner(caller, image) && !caller.isAdmin) throw notAllowed("update", imageId);
  if (!rowExists || !(caller.isAdmin || memberId === caller.projectId)) {
    throw memberNotFound(imageId, memberId);
  }
}

export const INVALID_STATUS = 'Incorrect request: Status must be "pending", "accepted" or "rejected".';

/** DELETE steps 1–4: owner or admin. */
export function checkDelete(
  caller: ProjectCaller,
  imageId: ImageIdParam,
  memberId: string,
  found: ImageAccess | null,
  rowExists: boolean,
): void {
  const image = visibleImage(caller, imageId, found);
  if (!hasMembers(image)) throw notAllowed("delete", imageId);
  if (!caller.isAdmin && !isOwner(caller, image)) throw notAllowed("delete", imageId);
  if (!rowExists) throw memberNotFound(imageId, memberId);
}

/** POST step 6: the quota, as the store found it when the insert did not happen. */
export function quotaExceeded(imageId: ImageIdParam, count: number, quota: number): ApiError {
  return new ApiError(
    413,
    `Image member limit exceeded for image ${imageId.raw}: The limit has been exceeded on the number of allowed image members for this image. Attempted: ${count + 1}, Maximum: ${quota}`,
  );
}

export const duplicateMember = (imageId: ImageIdParam, memberId: string) =>
  new ApiError(409, `Member ${memberId} is duplicated for image ${imageId.raw}`);
