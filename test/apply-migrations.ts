import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
// The setup file vitest.config.ts names: also keeps the expected warnings out of the output.
import "./expected-logs";

// Setup files run before each test file; applying is idempotent.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
