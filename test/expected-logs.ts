/**
 * Two warnings that every test file causes by design are kept out of the test output: the
 * Worker under test runs AUTH_STRATEGY=trusted-headers, which warns on an isolate's first
 * request, and many tests run the legacy rule set, which warns once per policy. Tests that are
 * about them spy on console.warn and assert them (test/hardening/security.test.ts,
 * test/members/rbac.test.ts); a spy sees every line, since it wraps this filter. Any other
 * line, and these two in any other form, still shows.
 */
const EXPECTED = new Set([
  "AUTH_STRATEGY=trusted-headers: identity headers are trusted as sent; use only behind a gateway that sets them",
  "POLICY_DEFAULTS=legacy: roles other than admin are ignored (Glance before the secure-RBAC defaults)",
]);

function expected(args: unknown[]): boolean {
  if (args.length !== 1 || typeof args[0] !== "string") return false;
  try {
    const line = JSON.parse(args[0]) as { level?: unknown; msg?: unknown };
    return line.level === "warn" && typeof line.msg === "string" && EXPECTED.has(line.msg);
  } catch {
    return false;
  }
}

const FILTERED = Symbol.for("glance-edge.test.expected-logs");
const console_ = console as Console & { [FILTERED]?: true };
if (!console_[FILTERED]) {
  const warn = console.warn.bind(console);
  console.warn = (...args: unknown[]) => {
    if (!expected(args)) warn(...args);
  };
  console_[FILTERED] = true;
}
