import type { ShareRow } from "./store";

/** A share object (docs/reference.md §12.2): `expires_at` only when set, as in member objects. */
export function shareView(s: ShareRow) {
  return {
    image_id: s.image_id,
    image_name: s.image_name,
    image_owner: s.image_owner,
    image_visibility: s.image_visibility,
    member_id: s.member_id,
    status: s.status,
    created_at: s.created_at,
    updated_at: s.updated_at,
    ...(s.expires_at === null ? {} : { expires_at: s.expires_at }),
  };
}

/** POST /v2/shares (docs/reference.md §12.3): each pair, and whether this call created it. */
export const bulkShareView = (s: ShareRow & { created: boolean }) => ({
  ...shareView(s),
  created: s.created,
});
