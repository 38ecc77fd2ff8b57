import { makeCaller } from "../../src/auth/caller";
import type { ApiError } from "../../src/http/errors";
import type { Credentials } from "../../src/policy/check";
import { credentialsOf, loadPolicy, type Policy } from "../../src/policy/policy";
import type { ImageFacts } from "../../src/policy/steps";

/** What the rule tests of test/unit share: a policy, a caller's credentials, an image read. */

export const OWNER = "owner-p";
export const MEMBER = "member-p";
export const STRANGER = "stranger-p";
export const IMAGE = "6f1b3c2a-0d4e-4b8f-9a7c-5e2d1f0a3b4c";

/** Role sets as Keystone issues them (member implies reader, admin implies both). */
export const ROLES = {
  none: [],
  reader: ["reader"],
  member: ["member", "reader"],
  admin: ["admin", "member", "reader"],
} as const;
export type Roles = keyof typeof ROLES;

/** A rule set with some rules overridden (POLICY_OVERRIDES); `"!"` denies. */
export function policy(rules: "secure-rbac" | "legacy", overrides: Record<string, string> = {}): Policy {
  const load = loadPolicy(rules, JSON.stringify(overrides));
  if (!load.ok) throw new Error(load.error);
  return load.policy;
}

export function creds(p: Policy, project: string | null, roles: Roles): Credentials {
  return credentialsOf(makeCaller(project, `user-of-${project}`, [...ROLES[roles]]), p);
}

/** An image of OWNER as one statement reads it for the caller. */
export function image(
  visibility: "public" | "community" | "shared" | "private",
  fields: Partial<Omit<ImageFacts, "visibility">> = {},
): ImageFacts & { visibility: "public" | "community" | "shared" | "private" } {
  return {
    id: IMAGE,
    owner: OWNER,
    visibility,
    name: "img",
    disk_format: "raw",
    container_format: "bare",
    size: 3,
    virtual_size: 3,
    status: "active",
    checksum: null,
    os_hash_algo: null,
    os_hash_value: null,
    protected: 0,
    os_hidden: 0,
    min_ram: 0,
    min_disk: 0,
    properties: "{}",
    callerIsMember: false,
    ...fields,
  };
}

/** An answer as the tables write it: null (allowed), or status and message. */
export const outcome = (e: ApiError | null) => (e === null ? null : [e.status, e.explanation]);
