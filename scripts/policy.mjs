#!/usr/bin/env node
// `npm run policy -- <command>`: the operator tool for docs/reference.md §11's rules (src/policy/cli.ts).
// Reads POLICY_DEFAULTS / POLICY_OVERRIDES from wrangler.toml [vars] and .dev.vars, bundles the
// policy code with esbuild (as wrangler does for the Worker) and runs it on Node.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";
import { experimental_readRawConfig } from "wrangler";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { rawConfig } = experimental_readRawConfig({ config: join(root, "wrangler.toml") });
const vars = { ...(rawConfig.vars ?? {}) };
// .dev.vars (dotenv) wins locally, as under `wrangler dev`.
const devVars = join(root, ".dev.vars");
if (existsSync(devVars)) {
  for (const m of readFileSync(devVars, "utf8").matchAll(
    /^\s*(POLICY_[A-Z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|(.*))$/gm,
  )) {
    vars[m[1]] = m[2] !== undefined ? JSON.parse(`"${m[2]}"`) : m[3].trim();
  }
}

// Inside the project, so that the bundle's own imports (yaml) resolve from node_modules.
mkdirSync(join(root, "node_modules", ".cache"), { recursive: true });
const out = mkdtempSync(join(root, "node_modules", ".cache", "policy-cli-"));
try {
  await build({
    entryPoints: [join(root, "src/policy/cli.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    outfile: join(out, "cli.mjs"),
    packages: "external",
    logLevel: "error",
  });
  const { runCli } = await import(pathToFileURL(join(out, "cli.mjs")).href);
  process.exitCode = runCli(process.argv.slice(2), {
    vars,
    readFile: (path) => readFileSync(path, "utf8"),
    out: (text) => console.log(text),
  });
} finally {
  rmSync(out, { recursive: true, force: true });
}
