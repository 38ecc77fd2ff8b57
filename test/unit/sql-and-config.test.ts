import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { auditRetentionDays, memberQuota } from "../../src/config";
import { flag, isConstraintViolation, isUniqueViolation, now, Params } from "../../src/db/sql";
import { ApiError } from "../../src/http/errors";

/** src/db/sql.ts's helpers and src/config.ts's readings of the operator's variables. */

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("constraint violations, as D1 words them", () => {
  // biome-ignore format: a table
  const cases: [unknown, unique: boolean, other: boolean][] = [
    [new Error("D1_ERROR: UNIQUE constraint failed: image_members.image_id, image_members.member_id: SQLITE_CONSTRAINT"), true, false],
    [new Error("D1_ERROR: CHECK constraint failed: visibility IN (...)"), false, true],
    [new Error("D1_ERROR: NOT NULL constraint failed: images.status"), false, true],
    [new Error("D1_ERROR: FOREIGN KEY constraint failed"), false, true],
    [new Error("D1_ERROR: Network connection lost."), false, false],
    ["UNIQUE constraint failed", false, false],
    [null, false, false],
  ];
  it.each(cases)("%s: UNIQUE %s, another %s", (err, unique, other) => {
    expect([isUniqueViolation(err), isConstraintViolation(err)]).toEqual([unique, other]);
  });
});

describe("now, flag", () => {
  it("now is UTC to the second, as docs/reference.md §2 writes times", () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date("2026-05-06T07:08:09.999Z"));
    expect(now()).toBe("2026-05-06T07:08:09Z");
  });

  it("flag is SQLite's boolean", () => {
    expect([flag(true), flag(false)]).toEqual([1, 0]);
  });
});

describe("Params: numbered placeholders for one statement", () => {
  it("the fixed values first, then one slot per distinct value asked for", () => {
    const p = new Params("a", 7);
    expect([p.param("x"), p.param("y"), p.param("x"), p.param(7)]).toEqual(["?3", "?4", "?3", "?5"]);
    expect(p.values).toEqual(["a", 7, "x", "y", 7]);
  });

  it("values are told apart by type and content, objects by their JSON", () => {
    const p = new Params();
    expect([p.param(null), p.param("null"), p.param(1), p.param("1")]).toEqual(["?1", "?2", "?3", "?4"]);
    expect([p.param(["a"]), p.param(["a"]), p.param(["b"])]).toEqual(["?5", "?5", "?6"]);
  });
});

describe("IMAGE_MEMBER_QUOTA", () => {
  // undefined: the variable is not set at all.
  const quota = (v: string | undefined) => memberQuota({ ...env, IMAGE_MEMBER_QUOTA: v as string });
  it.each([
    [undefined, 128],
    ["", 128],
    ["  ", 128],
    ["5", 5],
    [" 5 ", 5],
    ["0", 0],
    ["-1", -1],
  ] as const)("%j → %i", (v, n) => {
    expect(quota(v)).toBe(n);
  });

  it.each(["lots", "1.5", "5e2", "0x10"])("%j fails closed: 503, logged", (v) => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const thrown = (() => {
      try {
        quota(v);
        return null;
      } catch (e) {
        return e;
      }
    })();
    expect(thrown).toBeInstanceOf(ApiError);
    expect((thrown as ApiError).status).toBe(503);
    expect(errors.mock.calls.map((c) => JSON.parse(String(c[0])))).toEqual([
      { level: "error", msg: `IMAGE_MEMBER_QUOTA ${JSON.stringify(v)} is not an integer` },
    ]);
  });
});

describe("AUDIT_RETENTION_DAYS", () => {
  const days = (v: string | undefined) => auditRetentionDays({ ...env, AUDIT_RETENTION_DAYS: v as string });
  it.each([
    [undefined, 365],
    ["", 365],
    ["30", 30],
    ["999999", 999999],
  ] as const)("%j → %i", (v, n) => {
    expect(days(v)).toBe(n);
  });

  it.each(["0", "-5", "abc", "1000000", "1.5"])("%j keeps every record (null), logged", (v) => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    expect(days(v)).toBeNull();
    expect(errors.mock.calls.map((c) => JSON.parse(String(c[0])).msg)).toEqual([
      `AUDIT_RETENTION_DAYS ${JSON.stringify(v)} is not a positive number of days; no record is purged`,
    ]);
  });
});
