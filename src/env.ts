import type { Caller } from "./auth/caller";

export type Db = Pick<D1Database, "prepare" | "batch">;

export interface AppEnv {
  Bindings: Cloudflare.Env;
  Variables: {
    requestId: string;
    caller: Caller;
    db: Db;
  };
}
