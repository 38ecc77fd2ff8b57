import { describe, expect, it } from "vitest";
import { ApiError } from "../../src/http/errors";
import { applyPatch, type Change, parseChanges } from "../../src/images/patch";
import type { ImageDocument, PatchOp } from "../../src/images/schemas";

/**
 * src/images/patch.ts (docs/reference.md §8 PATCH): what Glance's deserializer refuses in each change before
 * any lookup, and how the changes apply to an image document, in order.
 */

/** An answer: the value, or the ApiError's status and message. */
function attempt<T>(f: () => T): T | [number, string] {
  try {
    return f();
  } catch (e) {
    if (e instanceof ApiError) return [e.status, e.explanation];
    throw e;
  }
}

describe("parseChanges", () => {
  // biome-ignore format: a table
  const cases: [PatchOp, Change | [number, unknown]][] = [
    [{ op: "replace", path: "/name", value: "n" }, { op: "replace", key: "name", value: "n" }],
    [{ op: "add", path: "/os_distro", value: "debian" }, { op: "add", key: "os_distro", value: "debian" }],
    [{ op: "remove", path: "/os_distro" }, { op: "remove", key: "os_distro" }],
    // JSON pointer escapes: ~1 is "/", ~0 is "~".
    [{ op: "add", path: "/a~1b~0c", value: "x" }, { op: "add", key: "a/b~c", value: "x" }],
    [{ op: "add", path: "name", value: "x" }, [400, "Invalid JSON pointer for this resource: 'name'"]],
    [{ op: "add", path: "/", value: "x" }, [400, "Invalid JSON pointer for this resource: '/'"]],
    [{ op: "add", path: "/a/b", value: "x" }, [400, "Nested paths are not allowed"]],
    [{ op: "replace", path: "/status", value: "active" }, [403, "Attribute 'status' is read-only."]],
    [{ op: "remove", path: "/size" }, [403, "Attribute 'size' is read-only."]],
    [{ op: "add", path: "/locations", value: [] }, [403, "Attribute 'locations' is reserved."]],
    [{ op: "add", path: "/os_glance_x", value: "y" }, [403, "Attribute 'os_glance_x' is reserved."]],
    [{ op: "replace", path: "/id", value: "x" }, [403, "Attribute 'id' is read-only."]],
    // Values against the image schema: a custom property is a string.
    [{ op: "add", path: "/os_distro", value: 1 }, [400, expect.stringMatching(/^Provided object does not match schema 'image': os_distro: /)]],
    [{ op: "replace", path: "/visibility", value: "everyone" }, [400, expect.stringMatching(/^Provided object does not match schema 'image': visibility: /)]],
    [{ op: "replace", path: "/min_ram", value: -1 }, [400, expect.stringMatching(/^Provided object does not match schema 'image': min_ram: /)]],
  ];
  it.each(cases)("%j → %j", (op, want) => {
    const got = attempt(() => parseChanges([op]));
    expect(got).toEqual(Array.isArray(want) ? want : [want]);
  });

  it("refuses the whole document at its first bad change", () => {
    expect(
      attempt(() =>
        parseChanges([
          { op: "replace", path: "/name", value: "ok" },
          { op: "remove", path: "/checksum" },
          { op: "add", path: "/a/b", value: "x" },
        ]),
      ),
    ).toEqual([403, "Attribute 'checksum' is read-only."]);
  });
});

describe("applyPatch", () => {
  const before = { name: "n", visibility: "shared", os_distro: "debian" } as ImageDocument;
  const apply = (changes: Change[]) => attempt(() => applyPatch(before, changes, () => {}));

  // biome-ignore format: a table
  const cases: [Change[], Record<string, unknown> | [number, string]][] = [
    [[{ op: "replace", key: "name", value: "m" }], { name: "m", visibility: "shared", os_distro: "debian" }],
    [[{ op: "add", key: "arch", value: "x86_64" }], { ...before, arch: "x86_64" }],
    // `add` of an existing attribute replaces it.
    [[{ op: "add", key: "os_distro", value: "fedora" }], { ...before, os_distro: "fedora" }],
    [[{ op: "remove", key: "os_distro" }], { name: "n", visibility: "shared" }],
    [[{ op: "replace", key: "arch", value: "x" }], [409, "Property arch does not exist."]],
    [[{ op: "remove", key: "arch" }], [409, "Property arch does not exist."]],
    [[{ op: "remove", key: "name" }], [403, "Attribute 'name' is a base attribute and cannot be removed."]],
    // In order: a property added by one change can be replaced and removed by the next.
    [
      [
        { op: "add", key: "arch", value: "a" },
        { op: "replace", key: "arch", value: "b" },
      ],
      { ...before, arch: "b" },
    ],
    [
      [
        { op: "add", key: "arch", value: "a" },
        { op: "remove", key: "arch" },
        { op: "remove", key: "arch" },
      ],
      [409, "Property arch does not exist."],
    ],
  ];
  it.each(cases)("%j → %j", (changes, want) => {
    expect(apply(changes)).toEqual(want);
  });

  it("leaves the document it was given unchanged", () => {
    const copy = structuredClone(before);
    applyPatch(before, [{ op: "remove", key: "os_distro" }], () => {});
    expect(before).toEqual(copy);
  });

  it("asks `check` before each change, and stops at the first it refuses", () => {
    const asked: string[] = [];
    const check = (c: Change) => {
      asked.push(c.key);
      if (c.key === "b") throw new ApiError(403, "no b");
    };
    const changes: Change[] = [
      { op: "add", key: "a", value: "1" },
      { op: "add", key: "b", value: "2" },
      { op: "add", key: "c", value: "3" },
    ];
    expect(attempt(() => applyPatch(before, changes, check))).toEqual([403, "no b"]);
    expect(asked).toEqual(["a", "b"]);
  });
});
