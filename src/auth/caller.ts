/** Who is calling (SPEC §1): a project, a user and lower-cased roles. */
export interface Caller {
  projectId: string | null;
  userId: string | null;
  roles: string[];
  isAdmin: boolean;
}

export function makeCaller(projectId: string | null, userId: string | null, roles: string[]): Caller {
  const lower = roles.map((r) => r.trim().toLowerCase()).filter((r) => r.length > 0);
  return { projectId, userId, roles: lower, isAdmin: lower.includes("admin") };
}

/** A caller known to act for a project: what member and image routes require. */
export type ProjectCaller = Caller & { projectId: string };
