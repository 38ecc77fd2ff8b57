import { ApiError, notAuthorizedText, RESOURCE_NOT_FOUND } from "../http/errors";
import type { ImageIdParam, Visibility } from "../images/schemas";
import type { Credentials } from "../policy/check";
import type { Step } from "../policy/steps";
import * as steps from "../policy/steps";

/**
 * Who may do what with members (docs/reference.md §4, §5, §11), as Glance decides it: each route is a list of
 * steps (src/policy/steps.ts) in Glance's order, each a rule and the answer when it fails. The
 * store puts the same steps in its write's WHERE; the route explains a refusal with them.
 */

/** What one statement read about the image for this caller (src/images/store.ts `facts`). */
export interface ImageAccess extends steps.ImageFacts {
  visibility: Visibility;
}

/** The request's identities: the raw ids as the client wrote them, for Glance's messages. */
export interface Ask {
  image: ImageIdParam;
  member?: string;
}

export type MemberStep = Step<Ask>;

export const imageNotFound = (ask: Ask) => new ApiError(404, `Image ${ask.image.raw} not found.`);
export const memberNotFound = (ask: Ask) =>
  new ApiError(404, `${ask.member} not found in the member list of the image ${ask.image.raw}.`);
const resourceNotFound = () => new ApiError(404, RESOURCE_NOT_FOUND);
const notAllowed = (action: "create" | "update" | "delete") => (ask: Ask) =>
  new ApiError(403, `Not allowed to ${action} members for image ${ask.image.raw}.`);

const visible: MemberStep = { rule: "image_visible", fail: imageNotFound };
const getImage: MemberStep = { rule: "get_image", fail: resourceNotFound };
/** MemberAPIPolicy: get_image first (404), then the member rule (403 in Glance's words). */
const policy = (
  rule: string,
  fail: MemberStep["fail"] = () => new ApiError(403, notAuthorizedText(rule)),
): MemberStep[] => [getImage, { rule, fail }];

export const ADD: readonly MemberStep[] = [
  visible,
  { rule: "takes_members", fail: notAllowed("create") },
  { rule: "legacy_owner_or_admin", legacyOnly: true, fail: notAllowed("create") },
  ...policy("add_member"),
];

export const LIST: readonly MemberStep[] = [
  visible,
  {
    rule: "takes_members",
    fail: (ask) =>
      new ApiError(
        403,
        `Not allowed to list members for image ${ask.image.raw}: Only shared images have members.`,
      ),
  },
  ...policy("get_members"),
];

export const SHOW: readonly MemberStep[] = [
  visible,
  { rule: "takes_members", fail: () => new ApiError(404, "Only shared images have members.") },
  // show() turns the policy's 403 into a 404 with the same words.
  ...policy("get_member", () => new ApiError(404, notAuthorizedText("get_member"))),
];

/** PUT: these steps, then the member row (404), then UPDATE_AFTER_ROW, then the body's status (400). */
export const UPDATE: readonly MemberStep[] = [
  visible,
  { rule: "takes_members", fail: notAllowed("update") },
  { rule: "legacy_not_owner_or_admin", legacyOnly: true, fail: notAllowed("update") },
  ...policy("get_member"),
];
export const UPDATE_AFTER_ROW: readonly MemberStep[] = policy("modify_member");

/** DELETE: these steps, then the member row (404), then DELETE_AFTER_ROW. */
export const DELETE: readonly MemberStep[] = [
  visible,
  { rule: "takes_members", fail: notAllowed("delete") },
  { rule: "legacy_owner_or_admin", legacyOnly: true, fail: notAllowed("delete") },
  ...policy("get_member"),
];
export const DELETE_AFTER_ROW: readonly MemberStep[] = policy("delete_member");

/**
 * PATCH (docs/reference.md §12.1): these steps, then the member row (404), then the body (400). Glance has no
 * such route; it is refused as PUT and DELETE are, with its own rule.
 */
export const SET_EXPIRY: readonly MemberStep[] = [
  visible,
  { rule: "takes_members", fail: notAllowed("update") },
  { rule: "legacy_owner_or_admin", legacyOnly: true, fail: notAllowed("update") },
  ...policy("set_member_expiry"),
];

/**
 * The first refusal of these steps for this image. No member step is hiddenUnlessGetImage: a
 * failing get_image answers for itself (404, RESOURCE_NOT_FOUND).
 */
export const refusal = (
  p: Parameters<typeof steps.refusal>[0],
  creds: Credentials,
  list: readonly MemberStep[],
  image: ImageAccess,
  ask: Ask,
) => steps.refusal(p, creds, list, image, ask, resourceNotFound);

/** Why this caller may not add members to the image read (null: it does not exist), or null. */
export const addRefusal = (
  p: Parameters<typeof steps.refusal>[0],
  creds: Credentials,
  image: ImageAccess | null,
  ask: Ask,
): ApiError | null => (image ? refusal(p, creds, ADD, image, ask) : imageNotFound(ask));

export const guardSql = steps.guardSql;

/**
 * Which member rows a caller sees (Glance's image_member_find): an admin (context_is_admin) or
 * the owner every row, anyone else only its own.
 */
export const seesAllMembers = (creds: Credentials, image: ImageAccess) =>
  creds.is_admin || image.owner === creds.project_id;

export const mayReadMember = (creds: Credentials, image: ImageAccess, memberId: string) =>
  seesAllMembers(creds, image) || memberId === creds.project_id;

export const INVALID_STATUS = 'Incorrect request: Status must be "pending", "accepted" or "rejected".';

/** POST (docs/reference.md §5.1 step 6): the quota, as the store counted it when the insert did not happen. */
export function quotaExceeded(ask: Ask, attempted: number, quota: number): ApiError {
  return new ApiError(
    413,
    `Image member limit exceeded for image ${ask.image.raw}: The limit has been exceeded on the number of allowed image members for this image. Attempted: ${attempted}, Maximum: ${quota}`,
  );
}

export const duplicateMember = (ask: Ask, memberId: string) =>
  new ApiError(409, `Member ${memberId} is duplicated for image ${ask.image.raw}`);
