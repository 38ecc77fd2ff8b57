#!/usr/bin/env node
// `npm run test:docs [-- --screenshots DIR] [--base URL]`: GET /docs in a real headless Chromium.
// Starts the service as a newcomer would (`npm start`, on a free loopback port with throw-away
// state), opens /docs in Debian's Chromium (/usr/bin/chromium, or $CHROMIUM) through
// playwright-core, with every request to another origin aborted and counted, and checks that:
// the page answers with a Content-Security-Policy that allows this origin only; it renders the
// OpenAPI document; it asks nothing of another origin and breaks no CSP rule (so it works
// offline); its sidebar lists the member routes; GET /versions's request example names this
// service; and that example, sent with Scalar's "Test Request", gets 200 and v2.5 from it.
// With --base, checks a service already running there instead of starting one.
// Closes with `docs: N passed, M failed`; exit status 1 when any failed.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";
import { freePort, startGroup, stopAll, waitFor } from "../../bench/processes.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const { values: opt } = parseArgs({
  options: { screenshots: { type: "string" }, base: { type: "string" } },
});
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
if (!existsSync(executablePath)) {
  console.error(`docs: no Chromium at ${executablePath} (apt-get install -y chromium, or set CHROMIUM)`);
  process.exit(1);
}

const MEMBER_ROUTES = [
  "List an image's members",
  "Add a member",
  "Show a membership",
  "Accept or reject a share",
  "Set or clear a membership's expiry",
  "Remove a member",
];

const results = [];
async function check(name, fn) {
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok    ${name}`);
  } catch (err) {
    results.push({ name, ok: false });
    console.log(
      `FAIL  ${name}\n      ${String(err?.message ?? err)
        .split("\n")
        .join("\n      ")}`,
    );
  }
}
function assert(condition, message) {
  if (!condition) throw new Error(message);
}

const scratch = mkdtempSync(join(tmpdir(), "glance-edge-docs-"));
let base = opt.base?.replace(/\/+$/, "");
let browser;
try {
  if (!base) {
    const port = await freePort();
    const log = join(scratch, "service.log");
    const child = startGroup(
      "npm",
      ["start", "--", "--port", String(port), "--persist-to", join(scratch, "state")],
      log,
      root,
    );
    base = `http://127.0.0.1:${port}`;
    await waitFor(`${base}/versions`, 200, child, log);
  }
  if (opt.screenshots) mkdirSync(opt.screenshots, { recursive: true });
  const shot = async (page, name) => {
    if (opt.screenshots) await page.screenshot({ path: join(opt.screenshots, `${name}.png`) });
  };

  browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const elsewhere = [];
  const problems = [];
  // Offline as far as the page can tell: only this service answers.
  await page.route("**/*", (route) => {
    const url = route.request().url();
    if (new URL(url).origin === base) return route.continue();
    elsewhere.push(url);
    return route.abort("internetdisconnected");
  });
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`${r.status()} for ${r.url()}`);
  });

  const response = await page.goto(`${base}/docs`);

  await check(
    "GET /docs answers 200 with a Content-Security-Policy that allows this origin only",
    async () => {
      assert(response?.status() === 200, `status ${response?.status()}`);
      const csp = (await response.allHeaders())["content-security-policy"] ?? "";
      assert(/(^|;\s*)default-src 'self'(;|$)/.test(csp), `CSP without default-src 'self': ${csp}`);
      assert(/(^|;\s*)script-src 'self'(;|$)/.test(csp), `CSP allows other scripts: ${csp}`);
      assert(!/https?:|\*/.test(csp), `CSP names another origin: ${csp}`);
    },
  );

  await check("the page renders the OpenAPI document", async () => {
    await page
      .getByRole("heading", { name: "glance-edge: OpenStack Image API v2" })
      .waitFor({ timeout: 30_000 });
    await page.getByText("OpenAPI 3.1").first().waitFor();
    await shot(page, "docs");
  });

  await check("the sidebar lists the member routes", async () => {
    await page.getByRole("button", { name: "Open Group - Members" }).click();
    for (const summary of MEMBER_ROUTES) {
      await page
        .getByRole("link", { name: new RegExp(summary.replace(/[()']/g, ".")) })
        .first()
        .waitFor({ timeout: 10_000 });
    }
    await shot(page, "members");
  });

  await check("GET /versions's request example is a call to this service", async () => {
    await page.goto(`${base}/docs#tag/discovery/GET/versions`);
    const example = page.getByText(`curl ${base}/versions`, { exact: true });
    await example.waitFor({ timeout: 30_000 });
  });

  await check("that example, sent with Test Request, gets 200 and v2.5 from the service", async () => {
    await page.getByRole("button", { name: /Test Request\s*\(get \/versions\)/ }).click();
    const answered = page.waitForResponse(
      (r) => r.url() === `${base}/versions` && r.request().method() === "GET",
    );
    await page.getByRole("button", { name: /^Send get request to / }).click();
    const answer = await answered;
    assert(answer.status() === 200, `the service answered ${answer.status()}`);
    await page.getByText("200 OK").first().waitFor({ timeout: 10_000 });
    await page.getByText('"v2.5"').first().waitFor({ timeout: 10_000 });
    await shot(page, "versions-sent");
  });

  await check("nothing was asked of another origin, and no CSP rule, script or request failed", async () => {
    assert(elsewhere.length === 0, `requests to other origins: ${elsewhere.join(", ")}`);
    assert(problems.length === 0, problems.join("\n"));
  });
} catch (err) {
  results.push({ name: "setup", ok: false });
  console.log(`FAIL  setup\n      ${err?.stack ?? err}`);
} finally {
  await browser?.close().catch(() => {});
  await stopAll();
  rmSync(scratch, { recursive: true, force: true });
}

const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed;
console.log(`docs: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
