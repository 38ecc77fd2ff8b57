import { describe, expect, it } from "vitest";
import { prefersJson } from "../../src/http/negotiate";
import { decodeMarker, encodeMarker, limitParam } from "../../src/http/paging";
import { NEGOTIATION } from "../helpers";

/** The pure parts of src/http: error negotiation (docs/reference.md §2) and docs/reference.md §12's keyset pages. */

describe("prefersJson: JSON only when it wins outright over text/html (webob's order)", () => {
  // biome-ignore format: a table
  // biome-ignore format: a table
  const cases: (readonly [string | undefined, boolean])[] = [
    ...NEGOTIATION,
    ["", false],
    ["application/*", true],
    ["*/*, application/json", false],
    ["application/json;q=0.5, text/html", false],
    ["application/json;q=1.5, text/html;q=0.9", true],
    ["application/json;q=abc, text/html;q=0.9", true],
    ["garbage", false],
    ["json", false],
  ];
  it.each(cases)("Accept %j → %s", (accept, json) => {
    expect(prefersJson(accept)).toBe(json);
  });
});

describe("markers (docs/reference.md §12.2, §12.4): opaque base64url of the page's last sort key", () => {
  it.each([
    [
      ["2024-01-01T00:00:00Z", 42],
      ["string", "number"],
    ],
    [
      ["é😀", "x"],
      ["string", "string"],
    ],
    [[0], ["number"]],
    [
      [Number.MAX_SAFE_INTEGER, ""],
      ["number", "string"],
    ],
  ] as const)("%j reads back as written", (key, shape) => {
    const marker = encodeMarker(key);
    expect(marker).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeMarker(marker, shape)).toEqual(key);
  });

  const b64url = (text: string) => btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  // biome-ignore format: a table
  const refused: [string, string, readonly ("string" | "number")[]][] = [
    ["empty", "", ["number"]],
    ["too long", "a".repeat(2049), ["number"]],
    ["standard base64's + and /", "+/+/", ["number"]],
    ["padding", `${b64url("[1]")}==`, ["number"]],
    ["an object", b64url("{}"), []],
    ["too few keys", b64url("[1]"), ["number", "string"]],
    ["too many keys", b64url('[1,"a"]'), ["number"]],
    ["a string for a number", b64url('["1"]'), ["number"]],
    ["a number for a string", b64url("[1]"), ["string"]],
    ["a fraction", b64url("[0.5]"), ["number"]],
    ["past the safe integers", b64url("[9007199254740993]"), ["number"]],
    ["an infinity", b64url("[1e999]"), ["number"]],
    ["not JSON", b64url("[1,"), ["number"]],
    ["not UTF-8", b64url('["\xff"]'), ["string"]],
  ];
  it.each(refused)("%s is no marker", (_, marker, shape) => {
    expect(decodeMarker(marker, shape)).toBeNull();
  });
});

describe("limit (docs/reference.md §12: default 25 is the route's, at most 1000)", () => {
  // biome-ignore format: a table
  const cases: [unknown, number | undefined | string][] = [
    [undefined, undefined],
    ["0", 0],
    ["25", 25],
    ["1000", 1000],
    ["1001", 1000],
    ["999999999999999", 1000],
    ["9999999999999999", "limit param must be an integer"],
    ["-1", "limit param must be an integer"],
    ["1.5", "limit param must be an integer"],
    ["1e3", "limit param must be an integer"],
    ["", "limit param must be an integer"],
    [["1", "2"], "Parameter limit must be given once."],
  ];
  it.each(cases)("%j → %j", (raw, want) => {
    const parsed = limitParam.safeParse(raw);
    expect(parsed.success ? parsed.data : parsed.error.issues[0]?.message).toEqual(want);
  });
});
