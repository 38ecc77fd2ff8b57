import { ApiError, UNAUTHORIZED } from "../http/errors";

/** What a token is scoped to (Keystone): a project, the system, a domain. */
export type Scope = "project" | "system" | "domain";

/** Who is calling (docs/reference.md §1): a project, a user, lower-cased roles, and their domains (§11). */
export interface Caller {
  projectId: string | null;
  userId: string | null;
  roles: string[];
  /** Holds the `admin` role: docs/reference.md §1's admin. Authorization reads the policy instead (§11). */
  isAdmin: boolean;
  projectDomainId: string | null;
  userDomainId: string | null;
  /** "project" whenever projectId is set. */
  scope: Scope;
}

export function makeCaller(
  projectId: string | null,
  userId: string | null,
  roles: string[],
  domains: { project?: string | null; user?: string | null; scope?: Scope } = {},
): Caller {
  const lower = roles.map((r) => r.trim().toLowerCase()).filter((r) => r.length > 0);
  return {
    projectId,
    userId,
    roles: lower,
    isAdmin: lower.includes("admin"),
    projectDomainId: domains.project ?? null,
    userDomainId: domains.user ?? null,
    scope: projectId !== null ? "project" : (domains.scope ?? "project"),
  };
}

/** A caller known to act for a project: what member and image routes require. */
export type ProjectCaller = Caller & { projectId: string };

export const isProjectCaller = (caller: Caller): caller is ProjectCaller => caller.projectId !== null;

/** Member and image routes act for a project: a caller without one is not authorized. */
export function projectCaller(caller: Caller): ProjectCaller {
  if (!isProjectCaller(caller)) throw new ApiError(401, UNAUTHORIZED);
  return caller;
}
