#!/usr/bin/env node
// The static assets of GET /docs (wrangler.toml [assets]): Scalar's standalone bundle, copied from
// node_modules, where `npm ci` put the version package.json pins. Run by wrangler before
// `wrangler dev` and `wrangler deploy` ([build] command) and by vitest.config.ts; the folder is
// generated, not committed. Exported for vitest.config.ts; run as a script, copies and exits.
import { copyFileSync, mkdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const ASSETS_DIR = join(root, "assets");

export function copyDocsAssets() {
  // The package's exports list neither dist/browser nor package.json: its main entry locates it.
  const main = createRequire(join(root, "package.json")).resolve("@scalar/api-reference");
  const from = join(main.slice(0, main.lastIndexOf(`${sep}dist${sep}`)), "dist", "browser", "standalone.js");
  const to = join(ASSETS_DIR, "docs", "scalar.js");
  mkdirSync(dirname(to), { recursive: true });
  let stale = true;
  try {
    stale = statSync(to).mtimeMs < statSync(from).mtimeMs || statSync(to).size !== statSync(from).size;
  } catch {}
  if (stale) copyFileSync(from, to);
  return to;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) copyDocsAssets();
