import { ApiError, notAuthorizedText, RESOURCE_NOT_FOUND } from "../http/errors";
import type { Credentials, Target } from "../policy/check";
import { listingRefusal, type Policy } from "../policy/policy";
import type { Step } from "../policy/steps";
import * as steps from "../policy/steps";
import { READ_ONLY, RESERVED, RESERVED_NAMESPACE } from "./schemas";

/**
 * Who may do what with images (docs/reference.md §4, §8, §11), as Glance decides it: each route is a list of
 * steps (src/policy/steps.ts) in Glance's order, each a rule — a policy rule, or a fixed one of
 * src/policy/defaults.ts — and the answer when it fails. The store puts the same steps in its
 * write's WHERE; the route explains a refusal with them, on the row read in the same batch.
 * Every list starts with the image's visibility (Glance's database layer), whose failure is also
 * the answer when there is no such image at all.
 */

/** The request's identities as the client wrote them, for Glance's messages. */
export interface Ask {
  /** The image id from the path, raw. */
  image: string;
}

export type ImageStep = Step<Ask>;

const forbidden = (message: string) => new ApiError(403, message);
export const noImage = (ask: Ask) => new ApiError(404, `No image found with ID ${ask.image}`);
const resourceNotFound = () => new ApiError(404, RESOURCE_NOT_FOUND);
const notAuthorized = (rule: string) => () => forbidden(notAuthorizedText(rule));

const visible = (fail: ImageStep["fail"]): ImageStep => ({ rule: "image_visible", fail });
/**
 * ImageAPIPolicy._enforce: a refusal on an image the caller may not get_image either is a bare
 * 404, so that it never tells that the image exists.
 */
const policy = (rule: string): ImageStep => ({ rule, hiddenUnlessGetImage: true, fail: notAuthorized(rule) });
/** check_is_image_mutable, which Glance runs only without enforce_new_defaults. */
const mutable = (fail: ImageStep["fail"] = () => forbidden("You do not own this image")): ImageStep => ({
  rule: "legacy_owner_or_admin",
  legacyOnly: true,
  fail,
});

/** GET /v2/images/{id}: images.py show. */
export const SHOW: readonly ImageStep[] = [visible(noImage), { rule: "get_image", fail: resourceNotFound }];

/** DELETE /v2/images/{id}: images.py delete, then the domain's protected check. */
export const DELETE: readonly ImageStep[] = [
  visible((ask) => new ApiError(404, `Failed to find image ${ask.image} to delete`)),
  policy("delete_image"),
  mutable(),
  {
    rule: "not_protected",
    fail: (ask) => forbidden(`Image ${ask.image} is protected and cannot be deleted.`),
  },
];

/** PUT /v2/images/{id}/file: image_data.py upload; then the upload's own state (uploadState). */
export const UPLOAD: readonly ImageStep[] = [
  visible(noImage),
  policy("upload_image"),
  // Raised as exception.Forbidden, which upload() words its own way.
  mutable((ask) => forbidden(`Not allowed to upload image data for image ${ask.image}`)),
];

/** GET /v2/images/{id}/file: image_data.py download checks deactivation before download_image. */
export const DOWNLOAD: readonly ImageStep[] = [
  visible(noImage),
  {
    rule: "not_deactivated_or_admin",
    fail: () => forbidden("The requested image has been deactivated. Image data download is forbidden."),
  },
  policy("download_image"),
];

/** POST /v2/images/{id}/actions/deactivate and …/reactivate: image_actions.py. */
export const DEACTIVATE: readonly ImageStep[] = [visible(noImage), policy("deactivate"), mutable()];
export const REACTIVATE: readonly ImageStep[] = [visible(noImage), policy("reactivate"), mutable()];

/**
 * PUT and DELETE /v2/images/{id}/tags/{tag}: image_tags.py, whose own words replace those of
 * exception.NotFound and exception.Forbidden (the database's 404, the legacy owner check); the
 * policy's own refusal is a webob error and keeps its words.
 */
const tagSteps = (action: "update" | "delete"): readonly ImageStep[] => [
  visible((ask) => new ApiError(404, `Image ${ask.image} not found.`)),
  policy("modify_image"),
  mutable((ask) => forbidden(`Not allowed to ${action} tags for image ${ask.image}.`)),
];
export const TAG_ADD = tagSteps("update");
export const TAG_DELETE = tagSteps("delete");

/** PATCH: the image must be visible; then each change's steps (changeSteps). */
export const PATCH_READ: readonly ImageStep[] = [visible(noImage)];

/** _enforce_image_visibility: making an image public or community has its own rule. */
function visibilityRule(visibility: unknown): string | null {
  return visibility === "public"
    ? "publicize_image"
    : visibility === "community"
      ? "communitize_image"
      : null;
}

const ownerIsAdmins: ImageStep = {
  rule: "admin_context",
  fail: () => forbidden("Owner can't be updated by non admin."),
};

/**
 * The checks Glance makes before it applies one JSON-patch change (images.py _do_replace,
 * _do_add, _do_remove → update_property): a new visibility's own rule first (never hidden:
 * _enforce_visibility does not go through ImageAPIPolicy._enforce), then modify_image.
 * Replacing the owner is an admin's act, checked before the policy. Glance lets an `add` of
 * /owner through the policy alone; here giving an image away is an admin's act whichever op
 * asks for it (an `add` of the owner it already has changes nothing and passes).
 */
export function changeSteps(
  op: "add" | "replace" | "remove",
  key: string,
  value: unknown,
  owner: string | null,
): readonly ImageStep[] {
  const givesAway = key === "owner" && (op === "replace" || (op === "add" && value !== owner));
  const rule = key === "visibility" && op !== "remove" ? visibilityRule(value) : null;
  return [
    ...(givesAway ? [ownerIsAdmins] : []),
    ...(rule ? [{ rule, fail: notAuthorized(rule) }] : []),
    policy("modify_image"),
    mutable(),
  ];
}

/**
 * The first refusal of `list` for the image read (null: it does not exist, which answers as
 * the list's first step, the image's visibility), or null when every step passes.
 */
export function refusal(
  p: Policy,
  creds: Credentials,
  list: readonly ImageStep[],
  image: steps.ImageFacts | null,
  ask: Ask,
): ApiError | null {
  if (!image) return (list[0] as ImageStep).fail(ask);
  return steps.refusal(p, creds, list, image, ask, resourceNotFound);
}

// ---- GET /v2/images --------------------------------------------------------------------------

/**
 * images.py index: "may list at all" against a target holding only the caller's project;
 * each image listed must then pass get_image (LISTED, as SQL in the list's WHERE).
 */
export const listRefusal = (p: Policy, creds: Credentials) => listingRefusal(p, "get_images", creds);
export const LISTED: readonly ImageStep[] = [{ rule: "get_image", fail: resourceNotFound }];
/** The marker must be an image the caller sees (Glance's database layer, not the policy). */
export const MARKER: readonly ImageStep[] = [visible(noImage)];

// ---- POST /v2/images -------------------------------------------------------------------------

interface CreateAsk {
  owner: string | null;
  project: string | null;
}

/** The owner as Glance's `%s` prints it. */
const shown = (owner: string | null) => (owner === null ? "None" : owner);

/**
 * ImageAPIPolicy.add_image: add_image, then the visibility's own rule, then (legacy only)
 * check_admin_or_same_owner, all on the image as asked for: owner (default the caller's
 * project) and visibility (default `shared`, docs/reference.md §11).
 */
function createSteps(visibility: string): Step<CreateAsk>[] {
  const rule = visibilityRule(visibility);
  return [
    {
      rule: "add_image",
      fail: (ask) =>
        ask.owner !== ask.project
          ? // Raised as webob's HTTPForbidden(detail): its title comes first (docs/reference.md §10.3: no <br />).
            forbidden(
              `Access was denied to this resource. You are not permitted to create images owned by '${shown(ask.owner)}'`,
            )
          : forbidden(notAuthorizedText("add_image")),
    },
    ...(rule ? [{ rule, fail: notAuthorized(rule) }] : []),
    {
      rule: "legacy_owner_or_admin",
      legacyOnly: true,
      fail: (ask) => forbidden(`You are not permitted to create images owned by '${shown(ask.owner)}'.`),
    },
  ];
}

/** Why the caller may not create an image with this owner and visibility; null when it may. */
export function createRefusal(
  p: Policy,
  creds: Credentials,
  owner: string | null,
  visibility: string,
): ApiError | null {
  const target: Target = { project_id: owner, owner, visibility };
  return steps.firstRefusal(p, creds, createSteps(visibility), target, { owner, project: creds.project_id });
}

// ---- not authorization: what Glance checks of the request and the image's state ------------

/** Read-only and reserved attributes, in Glance's words; checked before the schema. */
export function checkWritableKeys(keys: Iterable<string>): void {
  for (const key of keys) {
    if (RESERVED.has(key)) throw new ApiError(403, `Attribute '${key}' is reserved.`);
    if (READ_ONLY.has(key)) throw new ApiError(403, `Attribute '${key}' is read-only.`);
  }
}

/**
 * Glance's reserved namespace, refused from every caller (admins too) on create and PATCH.
 * Glance's deserializer checks it on create after the schema (a non-string `os_glance_x` is a
 * 400 first) and on PATCH per change right after the read-only and reserved names; both before
 * the image is looked up and before any rule, so the answer says nothing about the image.
 */
export function checkReservedNamespace(keys: Iterable<string>): void {
  for (const key of keys) {
    if (key.startsWith(RESERVED_NAMESPACE)) throw new ApiError(403, `Attribute '${key}' is reserved.`);
  }
}

/**
 * Why an upload may not start once the rules allow it, in Glance's order and words: only into
 * a `queued` image (so not into a deactivated one either), and only once its disk and
 * container formats are set.
 */
export function uploadStateError(image: {
  status: string;
  disk_format: string | null;
  container_format: string | null;
}): ApiError | null {
  if (image.status !== "queued") {
    return new ApiError(409, `Image status transition from ${image.status} to saving is not allowed`);
  }
  const missing = (["disk_format", "container_format"] as const).filter((k) => image[k] === null);
  if (missing.length === 0) return null;
  return new ApiError(
    400,
    `${missing.length === 1 ? "Property" : "Properties"} ${missing.join(", ")} must be set prior to saving data.`,
  );
}

/** Domain Image.deactivate / reactivate: which status each acts on, which it leaves alone. */
export const TRANSITIONS = {
  deactivate: { from: "active", to: "deactivated" },
  reactivate: { from: "deactivated", to: "active" },
} as const;
export type Action = keyof typeof TRANSITIONS;

/** The action on an image whose rules passed but which it did not change: no-op, or 403. */
export function transitionError(action: Action, status: string): ApiError | null {
  if (status === TRANSITIONS[action].to) return null;
  return forbidden(`Not allowed to ${action} image in status '${status}'`);
}

/** Glance's image_tag_quota default (ImageTagLimitExceeded, worded by image_tags.py). */
export const TAG_QUOTA = 128;
export function tagQuotaExceeded(ask: Ask, count: number): ApiError {
  return new ApiError(
    413,
    `Image tag limit exceeded for image ${ask.image}: The limit has been exceeded on the number of allowed image tags. Attempted: ${count + 1}, Maximum: ${TAG_QUOTA}:`,
  );
}
/** image_tags.py delete: a tag the image does not have is webob's bare 404. */
export const tagNotFound = resourceNotFound;

// ---- for the routes ----------------------------------------------------------------------------

/** The caller's rules for one request: SQL guards for the store, refusals for the route. */
export interface Authorizer {
  /** The steps as SQL over image `i`, for the write's WHERE (placeholders from the store). */
  guard(list: readonly ImageStep[]): (param: (v: unknown) => string) => string;
  /** The image read, when every step passes; else the first refusal is thrown. */
  permit<I extends steps.ImageFacts>(list: readonly ImageStep[], image: I | null, ask: Ask): I;
  /** The first refusal, or null. */
  refusal(list: readonly ImageStep[], image: steps.ImageFacts | null, ask: Ask): ApiError | null;
}

export function authorizer(p: Policy, creds: Credentials): Authorizer {
  const refused = (list: readonly ImageStep[], image: steps.ImageFacts | null, ask: Ask) =>
    refusal(p, creds, list, image, ask);
  return {
    guard: (list) => (param) => steps.guardSql(p, creds, list, param),
    permit(list, image, ask) {
      const error = refused(list, image, ask);
      if (error || !image) throw error ?? noImage(ask);
      return image;
    },
    refusal: refused,
  };
}
