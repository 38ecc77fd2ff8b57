#!/usr/bin/env node
// `npm run openapi [-- FILE]`: the OpenAPI document GET /openapi.json serves, written to FILE (or
// printed), for linters and client generators that want a file. It is built by the Worker's own
// code (src/openapi/document.ts, bundled here with esbuild), not fetched, so no service need run;
// its server is http://127.0.0.1:8787, where `npm start` listens.
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = await build({
  stdin: {
    contents: 'export { openApiDocument } from "./src/openapi/document.ts";',
    resolveDir: root,
    loader: "ts",
  },
  bundle: true,
  format: "esm",
  platform: "neutral",
  write: false,
  logLevel: "warning",
});
const code = out.outputFiles[0].text;
const { openApiDocument } = await import(
  `data:text/javascript;base64,${Buffer.from(code).toString("base64")}`
);
const text = `${JSON.stringify(openApiDocument("http://127.0.0.1:8787"), null, 2)}\n`;
const file = process.argv[2];
if (file) {
  writeFileSync(file, text);
  console.error(`openapi: wrote ${file}`);
} else {
  process.stdout.write(text);
}
