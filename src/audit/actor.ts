import type { Caller } from "../auth/caller";
import type { Actor } from "./context";

/** The actor of a change (docs/reference.md §12.4): the caller's project (when project-scoped), user and request. */
export function actorOf(c: { get(key: "caller"): Caller; get(key: "requestId"): string }): Actor {
  const caller = c.get("caller");
  return {
    project: caller.scope === "project" ? caller.projectId : null,
    user: caller.userId,
    requestId: c.get("requestId"),
  };
}
