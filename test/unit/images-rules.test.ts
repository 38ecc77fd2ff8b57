import { describe, expect, it } from "vitest";
import {
  authorizer,
  changeSteps,
  checkReservedNamespace,
  checkWritableKeys,
  createRefusal,
  DEACTIVATE,
  DELETE,
  DOWNLOAD,
  type ImageStep,
  listRefusal,
  REACTIVATE,
  refusal,
  SHOW,
  TAG_ADD,
  TAG_DELETE,
  tagQuotaExceeded,
  transitionError,
  UPLOAD,
  uploadStateError,
} from "../../src/images/rules";
import type { ImageFacts } from "../../src/policy/steps";
import { creds, IMAGE, image, MEMBER, OWNER, outcome, policy, type Roles, STRANGER } from "./rule-fixtures";

/**
 * src/images/rules.ts: each image route's checks in Glance's order (docs/reference.md §4, §8, §11), the first
 * refusal, and what Glance checks of a request and an image's state before any rule. Expected
 * answers are written out here from reference and Glance, not taken from src.
 */

const ask = { image: IMAGE };
const HIDDEN = "The resource could not be found.";
const NO_IMAGE = `No image found with ID ${IMAGE}`;
const na = (rule: string) => `You are not authorized to complete ${rule} action.`;
const NOT_OWNER = "You do not own this image";

const LISTS: Record<string, readonly ImageStep[]> = {
  SHOW,
  DELETE,
  UPLOAD,
  DOWNLOAD,
  DEACTIVATE,
  REACTIVATE,
  TAG_ADD,
  TAG_DELETE,
};

type Relation = "owner" | "member" | "stranger";
const PROJECT: Record<Relation, string> = { owner: OWNER, member: MEMBER, stranger: STRANGER };
type Row = [
  list: keyof typeof LISTS,
  rules: "secure-rbac" | "legacy",
  relation: Relation,
  roles: Roles,
  read: Partial<Omit<ImageFacts, "visibility">> & {
    visibility?: "public" | "community" | "shared" | "private";
  },
  expected: null | [number, string],
];

// biome-ignore format: a table
const ROWS: Row[] = [
  // GET /v2/images/{id}
  ["SHOW", "secure-rbac", "owner", "reader", {}, null],
  ["SHOW", "secure-rbac", "member", "reader", {}, null],
  ["SHOW", "secure-rbac", "stranger", "reader", { visibility: "public" }, null],
  ["SHOW", "secure-rbac", "stranger", "reader", {}, [404, NO_IMAGE]],
  ["SHOW", "secure-rbac", "member", "none", {}, [404, HIDDEN]],
  ["SHOW", "legacy", "member", "none", {}, null],
  // DELETE /v2/images/{id}: its own 404, delete_image (a bare 404 to whoever may not see it),
  // the legacy owner check, then protected — for admins too.
  ["DELETE", "secure-rbac", "owner", "member", {}, null],
  ["DELETE", "secure-rbac", "stranger", "member", {}, [404, `Failed to find image ${IMAGE} to delete`]],
  ["DELETE", "secure-rbac", "owner", "reader", {}, [403, na("delete_image")]],
  ["DELETE", "secure-rbac", "owner", "none", {}, [404, HIDDEN]],
  ["DELETE", "secure-rbac", "member", "member", {}, [403, na("delete_image")]],
  ["DELETE", "secure-rbac", "owner", "member", { protected: 1 }, [403, `Image ${IMAGE} is protected and cannot be deleted.`]],
  ["DELETE", "secure-rbac", "stranger", "admin", { protected: 1 }, [403, `Image ${IMAGE} is protected and cannot be deleted.`]],
  ["DELETE", "legacy", "member", "member", {}, [403, NOT_OWNER]],
  ["DELETE", "legacy", "owner", "none", {}, null],
  ["DELETE", "legacy", "stranger", "admin", {}, null],
  // PUT …/file: the legacy owner check in upload's own words.
  ["UPLOAD", "secure-rbac", "owner", "member", {}, null],
  ["UPLOAD", "secure-rbac", "owner", "reader", {}, [403, na("upload_image")]],
  ["UPLOAD", "secure-rbac", "member", "member", {}, [403, na("upload_image")]],
  ["UPLOAD", "legacy", "member", "member", {}, [403, `Not allowed to upload image data for image ${IMAGE}`]],
  ["UPLOAD", "legacy", "owner", "none", {}, null],
  // GET …/file: deactivation first (an admin still downloads), then download_image.
  ["DOWNLOAD", "secure-rbac", "member", "member", {}, null],
  ["DOWNLOAD", "secure-rbac", "member", "reader", {}, [403, na("download_image")]],
  ["DOWNLOAD", "secure-rbac", "member", "none", {}, [404, HIDDEN]],
  ["DOWNLOAD", "secure-rbac", "owner", "member", { status: "deactivated" },
    [403, "The requested image has been deactivated. Image data download is forbidden."]],
  ["DOWNLOAD", "secure-rbac", "stranger", "admin", { status: "deactivated" }, null],
  ["DOWNLOAD", "legacy", "member", "none", {}, null],
  // …/actions/deactivate and reactivate
  ["DEACTIVATE", "secure-rbac", "owner", "member", {}, null],
  ["DEACTIVATE", "secure-rbac", "owner", "reader", {}, [403, na("deactivate")]],
  ["DEACTIVATE", "legacy", "member", "member", {}, [403, NOT_OWNER]],
  ["REACTIVATE", "secure-rbac", "member", "member", {}, [403, na("reactivate")]],
  ["REACTIVATE", "secure-rbac", "stranger", "member", {}, [404, NO_IMAGE]],
  ["REACTIVATE", "legacy", "owner", "none", {}, null],
  // …/tags/{tag}: their own 404 and legacy texts; modify_image keeps the policy's words.
  ["TAG_ADD", "secure-rbac", "owner", "member", {}, null],
  ["TAG_ADD", "secure-rbac", "stranger", "member", {}, [404, `Image ${IMAGE} not found.`]],
  ["TAG_ADD", "secure-rbac", "member", "member", {}, [403, na("modify_image")]],
  ["TAG_ADD", "legacy", "member", "member", {}, [403, `Not allowed to update tags for image ${IMAGE}.`]],
  ["TAG_DELETE", "legacy", "member", "member", {}, [403, `Not allowed to delete tags for image ${IMAGE}.`]],
  ["TAG_DELETE", "secure-rbac", "owner", "none", {}, [404, HIDDEN]],
];

describe("image routes' refusals (src/images/rules.ts)", () => {
  it.each(ROWS)("%s under %s: %s [%s] on %j → %j", (list, rules, relation, roles, read, want) => {
    const p = policy(rules);
    const c = creds(p, PROJECT[relation], roles);
    const { visibility = "shared", ...fields } = read;
    const facts = image(visibility, { callerIsMember: relation === "member", ...fields });
    expect(outcome(refusal(p, c, LISTS[list] as readonly ImageStep[], facts, ask))).toEqual(want);
  });

  it("no image at all answers as the list's first step does", () => {
    const p = policy("secure-rbac");
    const c = creds(p, STRANGER, "admin");
    expect(outcome(refusal(p, c, SHOW, null, ask))).toEqual([404, NO_IMAGE]);
    expect(outcome(refusal(p, c, DELETE, null, ask))).toEqual([
      404,
      `Failed to find image ${IMAGE} to delete`,
    ]);
    expect(outcome(refusal(p, c, TAG_ADD, null, ask))).toEqual([404, `Image ${IMAGE} not found.`]);
  });

  it("authorizer: permit hands back the image read, or throws the first refusal", () => {
    const p = policy("secure-rbac");
    const facts = image("shared");
    expect(authorizer(p, creds(p, OWNER, "member")).permit(DELETE, facts, ask)).toBe(facts);
    expect(() => authorizer(p, creds(p, OWNER, "reader")).permit(DELETE, facts, ask)).toThrow(
      na("delete_image"),
    );
    expect(() => authorizer(p, creds(p, OWNER, "member")).permit(SHOW, null, ask)).toThrow(NO_IMAGE);
  });
});

describe("the checks before one PATCH change (changeSteps)", () => {
  // biome-ignore format: a table
  const cases: [op: "add" | "replace" | "remove", key: string, value: unknown, rules: string[]][] = [
    ["replace", "name", "x", ["modify_image", "legacy_owner_or_admin"]],
    ["remove", "kernel_id", undefined, ["modify_image", "legacy_owner_or_admin"]],
    ["replace", "visibility", "public", ["publicize_image", "modify_image", "legacy_owner_or_admin"]],
    ["add", "visibility", "community", ["communitize_image", "modify_image", "legacy_owner_or_admin"]],
    ["replace", "visibility", "private", ["modify_image", "legacy_owner_or_admin"]],
    ["remove", "visibility", undefined, ["modify_image", "legacy_owner_or_admin"]],
    // Giving the image away is an admin's act, whichever op asks; re-adding its owner is not.
    ["replace", "owner", OWNER, ["admin_context", "modify_image", "legacy_owner_or_admin"]],
    ["add", "owner", "someone-else", ["admin_context", "modify_image", "legacy_owner_or_admin"]],
    ["add", "owner", OWNER, ["modify_image", "legacy_owner_or_admin"]],
  ];
  it.each(cases)("%s /%s %j: %j", (op, key, value, rules) => {
    expect(changeSteps(op, key, value, OWNER).map((s) => s.rule)).toEqual(rules);
  });

  it("each step answers in Glance's words", () => {
    const p = policy("legacy");
    const member = creds(p, MEMBER, "member");
    const steps = changeSteps("replace", "owner", "x", OWNER);
    const facts = image("shared", { callerIsMember: true });
    expect(outcome(refusal(p, member, steps, facts, ask))).toEqual([
      403,
      "Owner can't be updated by non admin.",
    ]);
    const secure = policy("secure-rbac");
    const owner = creds(secure, OWNER, "member");
    expect(
      outcome(
        refusal(secure, owner, changeSteps("replace", "visibility", "public", OWNER), image("shared"), ask),
      ),
    ).toEqual([403, na("publicize_image")]);
    expect(outcome(refusal(p, member, changeSteps("replace", "name", "x", OWNER), facts, ask))).toEqual([
      403,
      NOT_OWNER,
    ]);
  });
});

describe("GET /v2/images: may list at all (listRefusal)", () => {
  // biome-ignore format: a table
  const cases: ["secure-rbac" | "legacy", Roles, null | [number, string]][] = [
    ["secure-rbac", "reader", null],
    ["secure-rbac", "member", null],
    ["secure-rbac", "none", [403, na("get_images")]],
    ["legacy", "none", null],
  ];
  it.each(cases)("%s [%s] → %j", (rules, roles, want) => {
    const p = policy(rules);
    expect(outcome(listRefusal(p, creds(p, STRANGER, roles)))).toEqual(want);
  });

  it("a member role without reader is not enough under secure-rbac", () => {
    const p = policy("secure-rbac");
    const c = { ...creds(p, STRANGER, "none"), roles: ["member"] };
    expect(outcome(listRefusal(p, c))).toEqual([403, na("get_images")]);
  });
});

describe("POST /v2/images: add_image, the visibility's rule, the legacy owner check (createRefusal)", () => {
  const otherOwner = (owner: string) =>
    `Access was denied to this resource. You are not permitted to create images owned by '${owner}'`;
  // biome-ignore format: a table
  const cases: [rules: "secure-rbac" | "legacy", roles: Roles, owner: string | null, visibility: string, want: null | [number, string]][] = [
    ["secure-rbac", "member", OWNER, "shared", null],
    ["secure-rbac", "member", OWNER, "community", null],
    ["secure-rbac", "member", OWNER, "public", [403, na("publicize_image")]],
    ["secure-rbac", "reader", OWNER, "shared", [403, na("add_image")]],
    ["secure-rbac", "member", "other", "shared", [403, otherOwner("other")]],
    ["secure-rbac", "member", null, "shared", [403, otherOwner("None")]],
    ["secure-rbac", "admin", "other", "public", null],
    ["legacy", "none", OWNER, "private", null],
    ["legacy", "member", OWNER, "public", [403, na("publicize_image")]],
    ["legacy", "none", "other", "shared", [403, "You are not permitted to create images owned by 'other'."]],
    ["legacy", "admin", "other", "shared", null],
  ];
  it.each(cases)("%s [%s] owner %s, %s → %j", (rules, roles, owner, visibility, want) => {
    const p = policy(rules);
    expect(outcome(createRefusal(p, creds(p, OWNER, roles), owner, visibility))).toEqual(want);
  });
});

describe("what Glance checks before any rule", () => {
  const thrown = (f: () => void) => {
    try {
      f();
      return null;
    } catch (e) {
      return outcome(e as never);
    }
  };

  // biome-ignore format: a table
  const keys: [string, null | [number, string]][] = [
    ["name", null],
    ["os_hidden", null],
    ["status", [403, "Attribute 'status' is read-only."]],
    ["checksum", [403, "Attribute 'checksum' is read-only."]],
    ["created_at", [403, "Attribute 'created_at' is read-only."]],
    ["location", [403, "Attribute 'location' is reserved."]],
    ["deleted", [403, "Attribute 'deleted' is reserved."]],
  ];
  it.each(keys)("writable keys: %s → %j", (key, want) => {
    expect(thrown(() => checkWritableKeys([key]))).toEqual(want);
  });

  it("the first key refused is the one named", () => {
    expect(thrown(() => checkWritableKeys(["name", "size", "deleted"]))).toEqual([
      403,
      "Attribute 'size' is read-only.",
    ]);
  });

  // biome-ignore format: a table
  const namespace: [string, null | [number, string]][] = [
    ["os_glance_import_task", [403, "Attribute 'os_glance_import_task' is reserved."]],
    ["os_glancefoo", [403, "Attribute 'os_glancefoo' is reserved."]],
    ["os_glanc", null],
    ["OS_GLANCE_x", null],
    ["x_os_glance", null],
  ];
  it.each(namespace)("reserved namespace: %s → %j", (key, want) => {
    expect(thrown(() => checkReservedNamespace([key]))).toEqual(want);
  });

  // biome-ignore format: a table
  const uploads: [status: string, disk: string | null, container: string | null, want: null | [number, string]][] = [
    ["queued", "raw", "bare", null],
    ["queued", null, "bare", [400, "Property disk_format must be set prior to saving data."]],
    ["queued", "raw", null, [400, "Property container_format must be set prior to saving data."]],
    ["queued", null, null, [400, "Properties disk_format, container_format must be set prior to saving data."]],
    ["active", "raw", "bare", [409, "Image status transition from active to saving is not allowed"]],
    ["deactivated", null, null, [409, "Image status transition from deactivated to saving is not allowed"]],
    ["saving", "raw", "bare", [409, "Image status transition from saving to saving is not allowed"]],
  ];
  it.each(uploads)(
    "an upload into a %s image (%s, %s) → %j",
    (status, disk_format, container_format, want) => {
      expect(outcome(uploadStateError({ status, disk_format, container_format }))).toEqual(want);
    },
  );

  // biome-ignore format: a table
  const transitions: ["deactivate" | "reactivate", string, null | [number, string]][] = [
    ["deactivate", "deactivated", null],
    ["deactivate", "queued", [403, "Not allowed to deactivate image in status 'queued'"]],
    ["reactivate", "active", null],
    ["reactivate", "queued", [403, "Not allowed to reactivate image in status 'queued'"]],
    ["reactivate", "saving", [403, "Not allowed to reactivate image in status 'saving'"]],
  ];
  it.each(transitions)("%s left an image %s unchanged → %j", (action, status, want) => {
    expect(outcome(transitionError(action, status))).toEqual(want);
  });

  it("the tag quota's error counts the tag asked for", () => {
    expect(outcome(tagQuotaExceeded(ask, 128))).toEqual([
      413,
      `Image tag limit exceeded for image ${IMAGE}: The limit has been exceeded on the number of allowed image tags. Attempted: 129, Maximum: 128:`,
    ]);
  });
});
