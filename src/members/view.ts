import type { MemberRow } from "./store";

/** A member object, keys in docs/reference.md §5 order. */
export function memberView(m: MemberRow) {
  return {
    member_id: m.member_id,
    image_id: m.image_id,
    status: m.status,
    created_at: m.created_at,
    updated_at: m.updated_at,
    // docs/reference.md §12.1: only when set, so a Glance client sees Glance's member object.
    ...(m.expires_at === null ? {} : { expires_at: m.expires_at }),
    schema: "/v2/schemas/member",
  };
}

export function memberListView(members: MemberRow[]) {
  return { members: members.map(memberView), schema: "/v2/schemas/members" };
}
