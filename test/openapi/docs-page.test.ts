import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

/** GET /docs as the Worker serves it; test/docs/run.mjs drives it in a real browser. */
const get = (path: string) => exports.default.fetch(new Request(`http://glance.test${path}`));

describe("GET /docs", () => {
  it("is an HTML page under a Content-Security-Policy that allows this origin only", async () => {
    const res = await get("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
    const csp = res.headers.get("Content-Security-Policy") ?? "";
    expect(csp).toMatch(/(^|; )default-src 'self'(;|$)/);
    expect(csp).toMatch(/(^|; )script-src 'self'(;|$)/);
    expect(csp).toMatch(/(^|; )connect-src 'self'(;|$)/);
    expect(csp).not.toMatch(/https?:|\*/);
    const html = await res.text();
    const sources = [...html.matchAll(/<(?:script|link)[^>]*(?:src|href)="([^"]*)"/g)].map((m) => m[1]);
    expect(sources).toEqual(["data:,", "/docs/scalar.js", "/docs/init.js"]);
    expect(html).not.toMatch(/<script>|<style>/);
  });

  it("serves its scripts itself: Scalar's bundle and its configuration", async () => {
    const scalar = await get("/docs/scalar.js");
    expect(scalar.status).toBe(200);
    expect(scalar.headers.get("Content-Type")).toMatch(/javascript/);
    expect((await scalar.text()).length).toBeGreaterThan(1_000_000);
    const init = await get("/docs/init.js");
    expect(init.status).toBe(200);
    const config = await init.text();
    expect(config).toMatch(/^Scalar\.createApiReference\("#reference", /);
    // Everything that would call another origin is off.
    expect(config).toContain('"url":"/openapi.json"');
    expect(config).toContain('"withDefaultFonts":false');
    expect(config).toContain('"telemetry":false');
    expect(config).toContain('"proxyUrl":""');
  });

  it("answers 405 to other methods, like every path", async () => {
    const res = await exports.default.fetch(new Request("http://glance.test/docs", { method: "POST" }));
    expect(res.status).toBe(405);
    expect(res.headers.get("Allow")).toBe("GET");
  });
});
