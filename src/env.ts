import type { Caller } from "./auth/caller";

export type Db = Pick<D1Database, "prepare" | "batch">;

export interface AppEnv {
  Bindings: Cloudflare.Env;
  Variables: {
    requestId: string;
    caller: Caller;
    db: Db;
    /** PATCH only: which JSON-patch media type the body came as. */
    patchFormat: "v2.0" | "v2.1";
  };
}
