import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type Actor,
  differences,
  type Expected,
  type ListQuery,
  type MemberStatus,
  type Op,
  queryString,
  STATUSES,
  step,
  Ts,
  VISIBILITIES,
  type Visibility,
  type World,
} from "./model";
import { BASE, fetchApp, identityHeaders, LEAK } from "./support";

/**
 * Sequences of operations by an owner, members, a stranger and an admin (roles are relative to
 * each image: any of the three projects may own one image and be a member of another), over
 * images of every visibility and memberships of every status, every answer checked — status
 * and body — against the reference model. Each run has its own projects and tag, so runs (and
 * fast-check's shrinking replays) never see each other's data.
 */

/** The abstract operations fast-check generates; the runner turns them into concrete `Op`s. */
type ImageRef = { index: number; form: "exact" | "upper" | "missing" | "malformed" };
type Abstract =
  | { kind: "createImage"; actor: number; visibility: Visibility | undefined }
  | { kind: "showImage" | "deleteImage" | "listMembers"; actor: number; image: ImageRef }
  | { kind: "patchVisibility"; actor: number; image: ImageRef; visibility: Visibility }
  | {
      kind: "listImages";
      actor: number;
      visibility: Visibility | "all" | undefined;
      memberStatus: MemberStatus | "all" | undefined;
      limit: number | undefined;
      marker: number | undefined;
    }
  | {
      kind: "addMember";
      actor: number;
      image: ImageRef;
      member: number | "self";
      form: "member_id" | "member" | "both";
    }
  | { kind: "showMember" | "deleteMember"; actor: number; image: ImageRef; member: number | "self" }
  | {
      kind: "updateMember";
      actor: number;
      image: ImageRef;
      member: number | "self";
      status: unknown;
      extra: boolean;
    };

const actor = fc.nat({ max: 3 });
/** A member id: one of the pool, or (often) the calling project's own id. */
const member: fc.Arbitrary<number | "self"> = fc.oneof(fc.nat({ max: 5 }), fc.constant("self" as const));
/** Who gets added: mostly the two projects that also call, so they can then act as members. */
const added: fc.Arbitrary<number | "self"> = fc.oneof(fc.constantFrom(1, 2), member);
// Half of the references go to the run's first image, so memberships build up on it.
const imageRef: fc.Arbitrary<ImageRef> = fc.record({
  index: fc.oneof(fc.constant(0), fc.nat({ max: 7 })),
  form: fc.constantFrom("exact", "exact", "exact", "exact", "exact", "upper", "missing", "malformed"),
});
const visibility = fc.constantFrom(...VISIBILITIES);
const optional = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });

const abstractOp: fc.Arbitrary<Abstract> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant("createImage"), actor, visibility: optional(visibility) }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("addMember"),
      actor,
      image: imageRef,
      member: added,
      form: fc.constantFrom("member_id", "member_id", "member", "both"),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("updateMember"),
      actor,
      image: imageRef,
      member,
      status: fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom<unknown>(...STATUSES) },
        {
          weight: 1,
          arbitrary: fc.constantFrom<unknown>("ACCEPTED", "", null, 1, ["accepted"], "accepted "),
        },
      ),
      extra: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("listMembers"), actor, image: imageRef }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("showMember"), actor, image: imageRef, member }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("deleteMember"), actor, image: imageRef, member }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("showImage"), actor, image: imageRef }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("patchVisibility"), actor, image: imageRef, visibility }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("deleteImage"), actor, image: imageRef }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("listImages"),
      actor,
      visibility: optional(fc.constantFrom(...VISIBILITIES, "all" as const)),
      memberStatus: optional(fc.constantFrom(...STATUSES, "all" as const)),
      limit: optional(fc.integer({ min: 1, max: 3 })),
      marker: optional(fc.nat({ max: 7 })),
    }),
  },
);

const quota = fc.constantFrom(-1, 2, 3, 128);

/** One run's cast and bookkeeping: ids are fresh per run. */
/** (kind, status) pairs seen across all runs: the generators must reach every outcome. */
const seen = new Map<string, number>();

class Run {
  readonly tag = `run-${crypto.randomUUID()}`;
  readonly actors: Actor[];
  readonly members: string[];
  /** Every image id this run created, deleted ones included, in creation order. */
  readonly created: string[] = [];
  readonly log: string[] = [];
  world: World;

  constructor(quota: number) {
    const r = crypto.randomUUID().slice(0, 8);
    this.actors = [
      { project: `pa-${r}`, admin: false },
      { project: `pb-${r}`, admin: false },
      { project: `pc-${r}`, admin: false },
      { project: `admin-${r}`, admin: true },
    ];
    // Member ids: the four callers, a project that never calls, and a case variant (ids are exact).
    this.members = [...this.actors.map((a) => a.project), `out-${r}`, `PA-${r}`];
    this.world = { images: [], quota };
  }

  image(ref: ImageRef): string {
    const id = this.created.length > 0 ? this.created[ref.index % this.created.length] : undefined;
    if (ref.form === "malformed") return "not-a-uuid";
    if (ref.form === "missing" || id === undefined) return crypto.randomUUID();
    return ref.form === "upper" ? id.toUpperCase() : id;
  }

  concrete(a: Abstract): Op {
    const who = this.actors[a.actor] as Actor;
    const memberId = (n: number | "self") => (n === "self" ? who.project : (this.members[n] as string));
    switch (a.kind) {
      case "createImage":
        return {
          kind: "createImage",
          actor: who,
          id: crypto.randomUUID(),
          name: `img-${this.created.length}`,
          tags: [this.tag],
          visibility: a.visibility,
        };
      case "showImage":
      case "deleteImage":
      case "listMembers":
        return { kind: a.kind, actor: who, image: this.image(a.image) };
      case "patchVisibility":
        return { kind: a.kind, actor: who, image: this.image(a.image), visibility: a.visibility };
      case "listImages": {
        const query: ListQuery = { tag: this.tag };
        if (a.visibility !== undefined) query.visibility = a.visibility;
        if (a.memberStatus !== undefined) query.member_status = a.memberStatus;
        if (a.limit !== undefined) query.limit = a.limit;
        if (a.marker !== undefined && this.created.length > 0)
          query.marker = this.created[a.marker % this.created.length];
        return { kind: a.kind, actor: who, query };
      }
      case "addMember": {
        const id = memberId(a.member);
        const other = this.members[(this.members.indexOf(id) + 1) % this.members.length] as string;
        const body =
          a.form === "member_id"
            ? { member_id: id }
            : a.form === "member"
              ? { member: id }
              : { member: other, member_id: id };
        return { kind: a.kind, actor: who, image: this.image(a.image), body };
      }
      case "showMember":
      case "deleteMember":
        return { kind: a.kind, actor: who, image: this.image(a.image), member: memberId(a.member) };
      case "updateMember":
        return {
          kind: a.kind,
          actor: who,
          image: this.image(a.image),
          member: memberId(a.member),
          status: a.status,
        };
    }
  }

  request(op: Op, extra = false): Request {
    const headers: Record<string, string> = { ...identityHeaders(op.actor), Accept: "application/json" };
    const json = (method: string, path: string, body: unknown, type = "application/json") =>
      new Request(`${BASE}${path}`, {
        method,
        headers: { ...headers, "Content-Type": type },
        body: JSON.stringify(body),
      });
    const plain = (method: string, path: string) => new Request(`${BASE}${path}`, { method, headers });
    const members = (image: string) => `/v2/images/${image}/members`;
    const one = (image: string, m: string) => `${members(image)}/${encodeURIComponent(m)}`;
    switch (op.kind) {
      case "createImage": {
        const body: Record<string, unknown> = { id: op.id, name: op.name, tags: op.tags };
        if (op.visibility !== undefined) body.visibility = op.visibility;
        return json("POST", "/v2/images", body);
      }
      case "showImage":
        return plain("GET", `/v2/images/${op.image}`);
      case "patchVisibility":
        return json(
          "PATCH",
          `/v2/images/${op.image}`,
          [{ op: "replace", path: "/visibility", value: op.visibility }],
          "application/openstack-images-v2.1-json-patch",
        );
      case "deleteImage":
        return plain("DELETE", `/v2/images/${op.image}`);
      case "listImages":
        return plain("GET", `/v2/images?${queryString(op.query)}`);
      case "addMember":
        return json("POST", members(op.image), op.body);
      case "listMembers":
        return plain("GET", members(op.image));
      case "showMember":
        return plain("GET", one(op.image, op.member));
      case "updateMember":
        // Clients (python-glanceclient) also send the member id; other keys are ignored.
        return json(
          "PUT",
          one(op.image, op.member),
          extra ? { member: op.member, status: op.status } : { status: op.status },
        );
      case "deleteMember":
        return plain("DELETE", one(op.image, op.member));
    }
  }

  describe(op: Op): string {
    const { actor: a, kind, ...rest } = op;
    return `${kind} as ${a.project}${a.admin ? " (admin)" : ""} ${JSON.stringify(rest)}`;
  }

  /** Sends `op`, checks the answer against the model, moves the model on. */
  async perform(op: Op, extra = false): Promise<void> {
    const s = step(this.world, op);
    const res = await fetchApp(this.request(op, extra), { IMAGE_MEMBER_QUOTA: String(this.world.quota) });
    const text = await res.text();
    this.log.push(`${this.describe(op)} -> ${res.status}`);
    const key = `${op.kind} ${res.status}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
    const problems = checkAnswer(res, text, s.expected);
    if (
      op.kind === "createImage" &&
      res.status === 201 &&
      res.headers.get("Location") !== `${BASE}/v2/images/${op.id}`
    )
      problems.push(`Location ${res.headers.get("Location")}`);
    if (problems.length > 0) {
      throw new Error(
        `${this.describe(op)}\nexpected ${JSON.stringify(s.expected)}\ngot ${res.status} ${text}\n- ${problems.join("\n- ")}\nafter:\n  ${this.log.join("\n  ")}`,
      );
    }
    if (op.kind === "createImage" && res.status === 201) this.created.push(op.id);
    this.world = s.next(text === "" ? null : JSON.parse(text));
  }

  /** After the sequence: every image's full member list and the whole image list, as admin. */
  async audit(): Promise<void> {
    const admin = this.actors[3] as Actor;
    for (const image of this.world.images) {
      await this.perform({ kind: "listMembers", actor: admin, image: image.id });
    }
    await this.perform({ kind: "listImages", actor: admin, query: { tag: this.tag, visibility: "all" } });
  }
}

function checkAnswer(res: Response, text: string, expected: Expected): string[] {
  const problems: string[] = [];
  if (res.status !== expected.status) problems.push(`status ${res.status}, expected ${expected.status}`);
  if (!/^req-[A-Za-z0-9-]+$/.test(res.headers.get("x-openstack-request-id") ?? ""))
    problems.push(`x-openstack-request-id ${res.headers.get("x-openstack-request-id")}`);
  if (LEAK.test(text)) problems.push("body leaks internals");
  if (problems.length > 0) return problems;
  if (res.status === 204) {
    if (text !== "") problems.push("204 with a body");
    return problems;
  }
  if (res.headers.get("Content-Type") !== "application/json")
    problems.push(`Content-Type ${res.headers.get("Content-Type")}`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return [...problems, "body is not JSON"];
  }
  const want =
    "message" in expected
      ? {
          message: expected.message,
          code: `${expected.status} ${reason(expected.status)}`,
          title: reason(expected.status),
        }
      : expected.body;
  return [...problems, ...differences(body, want)];
}

const reason = (status: number) =>
  ({
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Request Entity Too Large",
  })[status] ?? "?";

describe("authorization model: generated operation sequences", () => {
  it("every answer, status and body, is the model's", async () => {
    await fc.assert(
      fc.asyncProperty(
        quota,
        fc.array(fc.tuple(abstractOp, fc.boolean()), { minLength: 1, maxLength: 40, size: "max" }),
        async (q, ops) => {
          const run = new Run(q);
          // Every run starts with one image of each visibility the owner may create, so the
          // early operations already meet all of them.
          for (const v of ["shared", "private", "community"] as const)
            await run.perform(run.concrete({ kind: "createImage", actor: 0, visibility: v }));
          for (const [a, extra] of ops) await run.perform(run.concrete(a), extra);
          await run.audit();
        },
      ),
      { numRuns: 150 },
    );
  }, 240_000);

  it("membership-heavy sequences on one image reach every status, the quota and re-adds", async () => {
    const first = fc.constant<ImageRef>({ index: 0, form: "exact" });
    const dense: fc.Arbitrary<Abstract> = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({
          kind: fc.constant("addMember"),
          actor: fc.constantFrom(0, 3),
          image: first,
          member: added,
          form: fc.constant("member_id" as const),
        }),
      },
      {
        weight: 4,
        arbitrary: fc.record({
          kind: fc.constant("updateMember"),
          actor: fc.constantFrom(1, 2, 1, 2, 0, 3),
          image: first,
          member: fc.oneof({ weight: 3, arbitrary: fc.constant("self" as const) }, fc.nat({ max: 5 })),
          status: fc.constantFrom<unknown>(...STATUSES, "bogus"),
          extra: fc.constant(false),
        }),
      },
      {
        weight: 2,
        arbitrary: fc.record({ kind: fc.constant("showMember"), actor, image: first, member }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          kind: fc.constant("deleteMember"),
          actor: fc.constantFrom(0, 3),
          image: first,
          member: fc.nat({ max: 5 }),
        }),
      },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant("listMembers"), actor, image: first }) },
      {
        weight: 2,
        arbitrary: fc.record({
          kind: fc.constant("listImages"),
          actor,
          visibility: fc.constant(undefined),
          memberStatus: optional(fc.constantFrom(...STATUSES, "all" as const)),
          limit: fc.constant(undefined),
          marker: fc.constant(undefined),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          kind: fc.constant("patchVisibility"),
          actor: fc.constantFrom(0, 3),
          image: first,
          visibility: fc.constantFrom<Visibility>("shared", "private", "public", "public", "community"),
        }),
      },
    );
    await fc.assert(
      fc.asyncProperty(
        quota,
        fc.array(dense, { minLength: 1, maxLength: 40, size: "max" }),
        async (q, ops) => {
          const run = new Run(q);
          await run.perform(run.concrete({ kind: "createImage", actor: 0, visibility: "shared" }));
          for (const a of ops) await run.perform(run.concrete(a));
          await run.audit();
        },
      ),
      { numRuns: 100 },
    );
  }, 240_000);
});

describe("coverage of the generated sequences", () => {
  it("reached every outcome of every route", () => {
    const expected = [
      "createImage 201",
      "createImage 403",
      "showImage 200",
      "showImage 404",
      "patchVisibility 200",
      "patchVisibility 403",
      "patchVisibility 404",
      "deleteImage 204",
      "deleteImage 403",
      "deleteImage 404",
      "listImages 200",
      "listImages 400",
      "addMember 200",
      "addMember 403",
      "addMember 404",
      "addMember 409",
      "addMember 413",
      "listMembers 200",
      "listMembers 403",
      "listMembers 404",
      "showMember 200",
      "showMember 404",
      "updateMember 200",
      "updateMember 400",
      "updateMember 403",
      "updateMember 404",
      "deleteMember 204",
      "deleteMember 403",
      "deleteMember 404",
    ];
    const missing = expected.filter((k) => !seen.has(k));
    expect(missing, JSON.stringify([...seen].sort())).toEqual([]);
    const total = [...seen.values()].reduce((a, b) => a + b, 0);
    console.log(
      `model property suite: ${total} requests checked; ${JSON.stringify(Object.fromEntries([...seen].sort()))}`,
    );
  });
});

describe("the model's comparison itself", () => {
  it("rejects a wrong key order, a wrong value and a malformed timestamp", () => {
    expect(differences({ b: 1, a: 2 }, { a: 2, b: 1 })).not.toEqual([]);
    expect(differences({ a: 1 }, { a: 2 })).not.toEqual([]);
    expect(differences({ t: "2024-01-01 00:00:00" }, { t: new Ts() })).not.toEqual([]);
    expect(differences({ t: "2024-02-30T00:00:00Z" }, { t: new Ts() })).not.toEqual([]);
    expect(differences({ t: "2024-01-01T00:00:00Z" }, { t: new Ts("2024-01-01T00:00:01Z") })).not.toEqual([]);
    expect(
      differences({ t: "2024-01-01T00:00:00Z", u: "x" }, { t: new Ts(), u: new Ts(undefined, "t") }),
    ).not.toEqual([]);
    expect(
      differences(
        { t: "2024-01-01T00:00:00Z", u: "2024-01-01T00:00:00Z" },
        { t: new Ts(), u: new Ts(undefined, "t") },
      ),
    ).toEqual([]);
  });
});
