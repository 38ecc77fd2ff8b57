import { Hono } from "hono";
import type { AppEnv } from "../env";
import { allowOnly } from "../http/routing";
import { openApiDocument } from "./document";

/**
 * GET /openapi.json and GET /docs (no authentication, like /versions). The page is Scalar's API
 * reference; its script is a static asset of this Worker (wrangler.toml [assets], copied from
 * node_modules by scripts/docs-assets.mjs), so the page needs nothing but this service.
 */
export const apiDocs = new Hono<AppEnv>();

/** Only this origin: the page works offline, and a script from elsewhere could not run. */
export const DOCS_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  // Scalar injects its stylesheet and sets style attributes from its script.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

export const SCALAR_PATH = "/docs/scalar.js";

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>glance-edge API reference</title>
<link rel="icon" href="data:,">
</head>
<body>
<div id="reference"></div>
<noscript>This page needs JavaScript; the document itself is at <a href="/openapi.json">/openapi.json</a>.</noscript>
<script src="${SCALAR_PATH}"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

const SANS =
  'ui-sans-serif, system-ui, sans-serif, "Apple Color Emoji", "Segoe UI Emoji", "Noto Color Emoji"';
const MONO =
  'ui-monospace, SFMono-Regular, Menlo, Monaco, Consolas, "Liberation Mono", "Courier New", monospace';

/**
 * Scalar's configuration, as a script of its own (an inline script would need 'unsafe-inline').
 * Everything that would reach another origin is off: default fonts (a CDN), telemetry, the agent
 * chat, and the request proxy (requests go straight to this service).
 */
const INIT = `Scalar.createApiReference("#reference", ${JSON.stringify({
  url: "/openapi.json",
  withDefaultFonts: false,
  telemetry: false,
  agent: { disabled: true },
  mcp: { disabled: true },
  proxyUrl: "",
  // System fonts: Scalar's default ones come from its CDN, which the page may not reach.
  customCss: `:root { --scalar-font: ${SANS}; --scalar-font-code: ${MONO}; }`,
  hideClientButton: false,
  documentDownloadType: "json",
  showDeveloperTools: "never",
})});
`;

const noStore = { "Cache-Control": "no-cache" };

allowOnly(apiDocs, "/openapi.json", ["GET"]);
allowOnly(apiDocs, "/docs", ["GET"]);
allowOnly(apiDocs, "/docs/init.js", ["GET"]);
allowOnly(apiDocs, SCALAR_PATH, ["GET"]);

apiDocs.get("/openapi.json", (c) => {
  const configured = (c.env.PUBLIC_ENDPOINT ?? "").trim().replace(/\/+$/, "");
  return c.json(openApiDocument(configured || new URL(c.req.url).origin), 200, noStore);
});

apiDocs.get("/docs", (c) =>
  c.html(PAGE, 200, { ...noStore, "Content-Security-Policy": DOCS_CSP, "X-Content-Type-Options": "nosniff" }),
);

apiDocs.get("/docs/init.js", (c) =>
  c.body(INIT, 200, {
    ...noStore,
    "Content-Type": "text/javascript; charset=utf-8",
    "X-Content-Type-Options": "nosniff",
  }),
);

/**
 * The asset layer answers this path before the Worker runs (npm start, deployments); this route
 * is for servers that wire a socket straight to the Worker (npm run serve).
 */
apiDocs.get(SCALAR_PATH, async (c) => {
  const asset = await c.env.ASSETS.fetch(c.req.raw);
  // The asset's headers are immutable; the request id is still to be set on them.
  return new Response(asset.body, asset);
});
