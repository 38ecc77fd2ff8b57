import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { copyDocsAssets } from "./scripts/docs-assets.mjs";

declare const process: { env: Record<string, string | undefined> };

// Tests run offline: no telemetry, no fetch of the Request.cf placeholder data.
process.env.WRANGLER_SEND_METRICS ??= "false";
process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false";

export default defineConfig(async () => {
  // wrangler.toml's [assets] folder must exist; `wrangler dev` fills it through [build].
  copyDocsAssets();
  // The real migrations, applied to the test D1 by test/apply-migrations.ts.
  const migrations = await readD1Migrations("./migrations");
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: {
            TEST_MIGRATIONS: migrations,
            AUTH_STRATEGY: "trusted-headers",
          },
          // A real Workers rate limiter for test/members/rate-limit.test.ts, under a name the app
          // does not read: other tests run unlimited, that file passes it as MEMBER_WRITE_LIMIT.
          ratelimits: {
            TEST_MEMBER_WRITE_LIMIT: { namespace_id: "9001", simple: { limit: 5, period: 60 } },
          },
        },
      }),
    ],
    test: {
      include: ["test/**/*.test.ts"],
      // The second checks every answer the tests get against the OpenAPI document.
      setupFiles: ["./test/apply-migrations.ts", "./test/openapi/contract-setup.ts"],
    },
  };
});
