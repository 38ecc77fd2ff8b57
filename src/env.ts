import type { Caller } from "./auth/caller";
import type { Credentials } from "./policy/check";
import type { Policy } from "./policy/policy";

export type Db = Pick<D1Database, "prepare" | "batch">;

export interface AppEnv {
  Bindings: Cloudflare.Env;
  Variables: {
    requestId: string;
    caller: Caller;
    /** The policy in force and the caller's credentials as it reads them (docs/reference.md §11). */
    policy: Policy;
    creds: Credentials;
    db: Db;
    /** The request's D1 session, the bookmark it started from (docs/reference.md §13), and the projects
     * besides the caller's whose next reads must see this request's writes. */
    session: D1DatabaseSession | undefined;
    sessionStart: string | null | undefined;
    bookmarkFor: string[];
    /** PATCH only: which JSON-patch media type the body came as. */
    patchFormat: "v2.0" | "v2.1";
  };
}
