/**
 * The rule sets of docs/reference.md §11, as check strings: data, not code. Every authorization decision of
 * the API reads one of these rules (overridable, POLICY_OVERRIDES) or one of the fixed rules
 * below (not overridable: what Glance decides in its database layer or in code).
 */

// glance/policies/base.py (2023.2 – 2025.x), spelled out the way Glance composes them.
const ADMIN = "rule:context_is_admin";
const PROJECT_MEMBER = "role:member and project_id:%(project_id)s";
const PROJECT_READER = "role:reader and project_id:%(project_id)s";
const IMAGE_MEMBER = "project_id:%(member_id)s";
const COMMUNITY = "'community':%(visibility)s";
const PUBLIC = "'public':%(visibility)s";
const SHARED = "'shared':%(visibility)s";
const ADMIN_OR_PROJECT_MEMBER = `${ADMIN} or (${PROJECT_MEMBER})`;
const ADMIN_OR_PROJECT_READER = `${ADMIN} or (${PROJECT_READER})`;
const ADMIN_OR_PROJECT_READER_GET_IMAGE = `${ADMIN} or (role:reader and (project_id:%(project_id)s or ${IMAGE_MEMBER} or ${COMMUNITY} or ${PUBLIC} or ${SHARED}))`;
const ADMIN_OR_PROJECT_MEMBER_DOWNLOAD_IMAGE = `${ADMIN} or (role:member and (project_id:%(project_id)s or ${IMAGE_MEMBER} or ${COMMUNITY} or ${PUBLIC} or ${SHARED}))`;
const ADMIN_OR_PROJECT_MEMBER_CREATE_IMAGE = `${ADMIN} or (${PROJECT_MEMBER} and project_id:%(owner)s)`;
const ADMIN_OR_SHARED_MEMBER = `${ADMIN} or (role:member and ${IMAGE_MEMBER})`;
// Glance writes this one without parentheses: `and` binds tighter than `or`.
const ADMIN_OR_PROJECT_READER_OR_SHARED_MEMBER = `${ADMIN} or role:reader and (project_id:%(project_id)s or ${IMAGE_MEMBER})`;

export type RuleSetName = "secure-rbac" | "legacy";

/** Glance's current defaults (glance/policies/base.py, image.py), `[oslo_policy] enforce_new_defaults`. */
export const SECURE_RBAC: Readonly<Record<string, string>> = {
  context_is_admin: "role:admin",
  default: "",
  add_image: ADMIN_OR_PROJECT_MEMBER_CREATE_IMAGE,
  delete_image: ADMIN_OR_PROJECT_MEMBER,
  get_image: ADMIN_OR_PROJECT_READER_GET_IMAGE,
  get_images: ADMIN_OR_PROJECT_READER,
  modify_image: ADMIN_OR_PROJECT_MEMBER,
  publicize_image: ADMIN,
  communitize_image: ADMIN_OR_PROJECT_MEMBER,
  download_image: ADMIN_OR_PROJECT_MEMBER_DOWNLOAD_IMAGE,
  upload_image: ADMIN_OR_PROJECT_MEMBER,
  add_member: ADMIN_OR_PROJECT_MEMBER,
  delete_member: ADMIN_OR_PROJECT_MEMBER,
  get_member: ADMIN_OR_PROJECT_READER_OR_SHARED_MEMBER,
  get_members: ADMIN_OR_PROJECT_READER_OR_SHARED_MEMBER,
  modify_member: ADMIN_OR_SHARED_MEMBER,
  deactivate: ADMIN_OR_PROJECT_MEMBER,
  reactivate: ADMIN_OR_PROJECT_MEMBER,
  // docs/reference.md §12 (glance-edge's own actions, not Glance's).
  set_member_expiry: ADMIN_OR_PROJECT_MEMBER,
  get_shares: `${ADMIN} or role:reader`,
  get_member_events: `${ADMIN} or role:reader`,
};

/**
 * Glance ≤ Zed (`enforce_new_defaults = False`): each rule is its new default OR its deprecated
 * one, and the deprecated ones are `rule:default` (""), so no role matters but admin. Ownership
 * is then Glance's code, which glance-edge keeps as the fixed `legacy_*` rules below.
 */
export const LEGACY: Readonly<Record<string, string>> = Object.fromEntries(
  Object.keys(SECURE_RBAC).map((name) => [
    name,
    name === "context_is_admin" ? "role:admin" : name === "publicize_image" ? ADMIN : "",
  ]),
);

export const RULE_SETS: Readonly<Record<RuleSetName, Readonly<Record<string, string>>>> = {
  "secure-rbac": SECURE_RBAC,
  legacy: LEGACY,
};

/**
 * What Glance decides outside its policy (database visibility, the members API's own checks,
 * and under legacy its owner checks), in the same language so that one engine explains a
 * refusal and writes the SQL guard. Not overridable: operators change policy, not docs/reference.md §4.
 */
export const FIXED: Readonly<Record<string, string>> = {
  // docs/reference.md §4: who sees an image at all (Glance's is_image_visible). `is_admin` is whether
  // context_is_admin holds, as Glance's RequestContext computes it.
  image_visible: `is_admin:True or project_id:%(owner)s or ${PUBLIC} or ${COMMUNITY} or ${IMAGE_MEMBER}`,
  // docs/reference.md §4 and §10.2: shared and private images take members.
  takes_members: `${SHARED} or 'private':%(visibility)s`,
  is_owner: "project_id:%(owner)s",
  // Glance's _check_visibility_and_ownership and check_is_image_mutable, legacy only.
  legacy_owner_or_admin: "is_admin:True or project_id:%(owner)s",
  legacy_not_owner_or_admin: "is_admin:True or not project_id:%(owner)s",
  // Glance's images.py _do_replace: only an admin (context.is_admin) replaces the owner.
  admin_context: "is_admin:True",
  // Glance's image_data.py download: a deactivated image's data is for admins only.
  not_deactivated_or_admin: "is_admin:True or not 'deactivated':%(status)s",
  // Glance's domain Image.delete: a protected image is not deleted, whoever asks.
  not_protected: "not True:%(protected)s",
};
