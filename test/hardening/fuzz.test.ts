import { env, exports } from "cloudflare:workers";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { dump } from "../helpers";
import {
  BASE,
  CLIENT_REQUEST_ID,
  errorShapeProblems,
  GENERATED_REQUEST_ID,
  identityHeaders,
  LEAK,
} from "./support";

/**
 * Generated requests against the member and image routes — random and hostile JSON, deep
 * nesting, huge and astral strings, wrong types, duplicate keys, invalid UTF-8, odd paths and
 * percent-encodings, oversized and streamed bodies, odd Accept / request-id / identity headers.
 * Whatever comes in: never a 5xx; every error in SPEC §2's shape (JSON when Accept asks for it,
 * text otherwise); no internals in any body; and a rejected (4xx) request changes nothing in
 * the database (dump() before and after).
 */
const BATCHES = 20;
const PER_BATCH = 500;
let sent = 0;

// ------------------------------------------------------------------ the cast and the seed

const r = crypto.randomUUID().slice(0, 8);
const P = {
  owner: `owner-${r}`,
  m1: `pending-${r}`,
  m2: `accepted-${r}`,
  stranger: `stranger-${r}`,
  admin: `admin-${r}`,
};
/** Placeholders in generated paths and bodies, filled from the seed at send time. */
const seed: Record<string, string> = {};

async function call(who: { project: string; admin: boolean }, method: string, path: string, body?: unknown) {
  const headers: Record<string, string> = { ...identityHeaders(who), Accept: "application/json" };
  const type = method === "PATCH" ? "application/openstack-images-v2.1-json-patch" : "application/json";
  if (body !== undefined) headers["Content-Type"] = type;
  const res = await exports.default.fetch(
    new Request(`${BASE}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
  );
  const text = await res.text();
  if (res.status >= 300) throw new Error(`seeding ${method} ${path}: ${res.status} ${text}`);
  return text === "" ? null : JSON.parse(text);
}

/**
 * A fresh seed: one image of each visibility, the shared one with a pending and an accepted
 * member. Storage belongs to this file alone; emptying it keeps every dump() small and fast.
 */
async function reseed(): Promise<void> {
  await env.DB.batch([env.DB.prepare("DELETE FROM image_members"), env.DB.prepare("DELETE FROM images")]);
  const owner = { project: P.owner, admin: false };
  const admin = { project: P.admin, admin: true };
  for (const v of ["shared", "private", "public", "community"] as const) {
    const image = await call(v === "public" ? admin : owner, "POST", "/v2/images", {
      name: `fuzz-${v}`,
      visibility: v,
      tags: ["fuzz"],
    });
    seed[`{${v}}`] = image.id;
  }
  const shared = seed["{shared}"] as string;
  seed["{SHARED}"] = shared.toUpperCase();
  for (const m of [P.m1, P.m2]) await call(owner, "POST", `/v2/images/${shared}/members`, { member_id: m });
  await call({ project: P.m2, admin: false }, "PUT", `/v2/images/${shared}/members/${P.m2}`, {
    status: "accepted",
  });
  await call(owner, "POST", `/v2/images/${seed["{private}"]}/members`, { member_id: P.m1 });
  seed["{m1}"] = P.m1;
  seed["{m2}"] = P.m2;
  seed["{owner}"] = P.owner;
}

const fill = (s: string) =>
  s.replace(/\{(shared|private|public|community|SHARED|m1|m2|owner)\}/g, (k) => seed[k] ?? k);

// ------------------------------------------------------------------ generators

const printable = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
});

/** Strings that stress decoders and storage: astral, controls, lone surrogates, long. */
const nasty = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary" }),
  fc.string({ unit: "grapheme" }),
  fc.constantFrom(
    "",
    " ",
    "\u0000",
    "\r\n",
    "\u007f",
    "\u0085",
    "😀",
    "𝔘𝔫𝔦",
    "é",
    "\ufeff",
    "null",
    "[]",
    "{}",
  ),
  fc.integer({ min: 200, max: 300 }).map((n) => "𝔘".repeat(n)),
  fc.integer({ min: 250, max: 260 }).map((n) => "a".repeat(n)),
);

const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  nasty,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(nasty, { maxLength: 3 }),
);

const memberish = fc.record(
  {
    member_id: fc.oneof(fc.constantFrom("{m1}", "{m2}", "{owner}", `new-${r}`), anyJson),
    member: fc.oneof(fc.constantFrom("{m1}", `other-${r}`), anyJson),
    status: fc.oneof(fc.constantFrom("pending", "accepted", "rejected", "Accepted", "deleted"), anyJson),
    extra: anyJson,
  },
  { requiredKeys: [] },
);

const IMAGE_KEYS = [
  "name",
  "visibility",
  "protected",
  "os_hidden",
  "container_format",
  "disk_format",
  "tags",
  "min_ram",
  "min_disk",
  "owner",
  "id",
  "status",
  "size",
  "self",
  "locations",
  "kernel_id",
  "description",
  "__proto__",
  "constructor",
];
const imageish = fc.dictionary(fc.oneof(fc.constantFrom(...IMAGE_KEYS), fc.string()), anyJson, {
  maxKeys: 5,
});
const patchish = fc.array(
  fc.record(
    {
      op: fc.oneof(fc.constantFrom("add", "replace", "remove", "move", "test", "copy"), anyJson),
      path: fc.oneof(
        fc.constantFrom(...IMAGE_KEYS.map((k) => `/${k}`), "/", "", "/a/b", "/~1x", "name"),
        fc.string(),
      ),
      value: anyJson,
    },
    { requiredKeys: [] },
  ),
  { maxLength: 4 },
);

type Body =
  | { kind: "none" }
  | { kind: "json"; value: unknown }
  | { kind: "text"; text: string }
  | { kind: "bytes"; bytes: number[] }
  | { kind: "deep"; depth: number; open: "[" | '{"a":' }
  | { kind: "huge"; key: string; size: number; unit: string }
  | { kind: "stream"; size: number };

const w = (weight: number, arbitrary: fc.Arbitrary<Body>) => ({ weight, arbitrary });
const body: fc.Arbitrary<Body> = fc.oneof(
  w(3, fc.constant({ kind: "none" })),
  w(
    5,
    memberish.map((value) => ({ kind: "json", value })),
  ),
  w(
    2,
    imageish.map((value) => ({ kind: "json", value })),
  ),
  w(
    2,
    patchish.map((value) => ({ kind: "json", value })),
  ),
  w(
    2,
    anyJson.map((value) => ({ kind: "json", value })),
  ),
  w(
    2,
    fc
      .oneof(
        fc.string(),
        fc.constantFrom(
          '{"member_id": "{m1}", "member_id": "dup"}',
          '{"status": "accepted", "status": "bogus"}',
          '{"member_id": "dup", "member_id": {"x": 1}}',
          '{"member_id": "\\ud800"}',
          '{"member_id": "x\\u0000y"}',
          '{"member_id": "a"',
          "\ufeff{}",
          "   ",
          "nul\u0000l",
          '{"a":1}garbage',
          "[1,]",
          "NaN",
          "1e999",
        ),
        printable.map((s) => `{"member_id": "${s}"}`),
      )
      .map((text) => ({ kind: "text", text })),
  ),
  w(
    1,
    fc
      .oneof(
        fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 40 }),
        fc.constantFrom<number[]>(
          [0xff, 0xfe, 0x7b, 0x7d],
          [0x7b, 0x22, 0x6d, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d], // {"m":"\xc3(" }
          [0x22, 0xed, 0xa0, 0x80, 0x22], // an encoded surrogate
          [0xef, 0xbb, 0xbf, 0x7b, 0x7d], // UTF-8 BOM + {}
          [0xc0, 0xaf], // overlong '/'
        ),
      )
      .map((bytes) => ({ kind: "bytes", bytes })),
  ),
  w(
    1,
    fc.record({
      kind: fc.constant("deep"),
      depth: fc.constantFrom(64, 1000, 20_000, 60_000),
      open: fc.constantFrom("[" as const, '{"a":' as const),
    }),
  ),
  w(
    1,
    fc.record({
      kind: fc.constant("huge"),
      key: fc.constantFrom("member_id", "member", "status", "name", "description"),
      size: fc.constantFrom(256, 10_000, 65_600, 300_000),
      unit: fc.constantFrom("a", "😀", "é"),
    }),
  ),
  w(1, fc.record({ kind: fc.constant("stream"), size: fc.constantFrom(0, 10, 65_536, 65_537, 1_048_577) })),
);

const imageSeg = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom("{shared}", "{private}", "{public}", "{community}", "{SHARED}") },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.uuid(),
      fc.constantFrom(
        "not-a-uuid",
        "%ZZ",
        "%E0%A4%A",
        "%C3%28",
        "%ED%A0%80",
        "%00",
        "%0D%0A",
        "%2e%2e",
        "..",
        "{shared}%2Fmembers",
        "{shared}%00",
        "%7Bshared%7D",
        "%F0%9F%98%80",
        "{shared}%20",
        "%20{shared}",
        "{shared};x=1",
        "x".repeat(5000),
      ),
      fc.webSegment(),
      printable.map(encodeURIComponent),
    ),
  },
);

const memberSeg = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("{m1}", "{m2}", "{owner}", `nobody-${r}`) },
  {
    weight: 3,
    arbitrary: fc.oneof(
      fc.constantFrom(
        "%ZZ",
        "%C3%28",
        "%ED%A0%80",
        "%00",
        "%0D%0A",
        "a%2Fb",
        "%2e%2e",
        "%F0%9F%98%80",
        "%25",
        "+",
        "%20",
      ),
      fc.webSegment(),
      nasty.map(encodeURIComponent),
      fc.integer({ min: 254, max: 300 }).map((n) => "m".repeat(n)),
    ),
  },
);

const query = fc.oneof(
  fc.constant(""),
  fc.webQueryParameters().map((q) => `?${q}`),
  fc
    .array(
      fc.tuple(
        fc.constantFrom(
          "limit",
          "marker",
          "visibility",
          "member_status",
          "owner",
          "name",
          "status",
          "tag",
          "os_hidden",
          "protected",
          "sort_key",
          "sort_dir",
          "sort",
        ),
        fc.oneof(
          fc.constantFrom(
            "all",
            "shared",
            "public",
            "accepted",
            "pending",
            "1",
            "0",
            "-1",
            "1000000",
            "true",
            "name:asc",
          ),
          fc.constantFrom(
            "{shared}",
            "{public}",
            "99999999999999999999",
            "%ZZ",
            "%00",
            "id:desc,name",
            "x:y:z",
          ),
          fc.string().map(encodeURIComponent),
        ),
      ),
      { maxLength: 4 },
    )
    .map((pairs) => `?${pairs.map(([k, v]) => `${k}=${v}`).join("&")}`),
);

type Path = { template: string; methods: string[] };
const path: fc.Arbitrary<Path> = fc.oneof(
  {
    weight: 6,
    arbitrary: imageSeg.map((i) => ({ template: `/v2/images/${i}/members`, methods: ["GET", "POST"] })),
  },
  {
    weight: 6,
    arbitrary: fc
      .tuple(imageSeg, memberSeg)
      .map(([i, m]) => ({ template: `/v2/images/${i}/members/${m}`, methods: ["GET", "PUT", "DELETE"] })),
  },
  {
    weight: 3,
    arbitrary: query.map((q) => ({ template: `/v2/images${q}`, methods: ["GET", "POST"] })),
  },
  {
    weight: 3,
    arbitrary: imageSeg.map((i) => ({ template: `/v2/images/${i}`, methods: ["GET", "PATCH", "DELETE"] })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        imageSeg,
        memberSeg,
        fc.constantFrom(
          "/v2/images/I/members/",
          "//v2/images/I/members",
          "/v2/images/I/members/M/extra",
          "/v2/images/I/Members",
          "/V2/images/I/members",
          "/v2//images/I/members",
          "/v2/images/I//members",
          "/v2/images/I/members?member_id=M",
          "/v2/images/I/members/M?status=accepted",
          "/v2/images/I/members/M#frag",
          "/v2/images/",
          "/v2/images/I/",
          "/v2/images/%2e%2e/I/members",
          "/v2/images/I/members/%2e%2e/M",
          "/v2/./images/I/members",
          "/v2/images/I/members/M/../M",
        ),
      )
      .map(([i, m, t]) => ({
        template: t.replace("I", i).replace("M", m),
        methods: ["GET", "POST", "PUT", "DELETE"],
      })),
  },
  { weight: 1, arbitrary: fc.webPath().map((p) => ({ template: `/v2${p}`, methods: ["GET", "POST"] })) },
);

/** Accept values whose negotiation SPEC §2 decides, and values it leaves to either form. */
const ACCEPT: [string | undefined, boolean][] = [
  [undefined, false],
  ["*/*", false],
  ["application/json", true],
  ["APPLICATION/JSON", true],
  ["text/html", false],
  ["text/plain", false],
  ["text/*", false],
  ["application/json, text/html", false],
  ["text/html, application/json", false],
  ["application/json, */*", false],
  ["application/json, */*;q=0.1", true],
  ["application/json;q=0.9, text/html;q=0.8", true],
  ["text/html;q=0.1, application/json", true],
  ["application/json;q=0", false],
];
const accept: fc.Arbitrary<{ value: string | undefined; json: boolean | "either" }> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...ACCEPT).map(([value, json]) => ({ value, json })) },
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        printable,
        fc.constantFrom(
          "application/*",
          ";;;",
          ",,,",
          "application/json;q=abc",
          "application/json;q=1.5",
          "json",
        ),
        fc.constant(`${"application/json;q=0.5, ".repeat(300)}text/html`),
      )
      .map((value) => ({ value, json: "either" as const })),
  },
);

const requestId = fc.option(
  fc.oneof(
    fc.uuid(),
    fc.uuid().map((u) => `req-${u}`),
    fc.constantFrom(
      "req-",
      "-",
      "a".repeat(64),
      "a".repeat(65),
      "req-x_y",
      "<script>",
      "%0D%0Aset-cookie:x",
      "a b",
    ),
    printable,
  ),
  { nil: undefined },
);

const IDENTITIES = [
  "owner",
  "m1",
  "m2",
  "stranger",
  "admin",
  "anonymous",
  "unconfirmed",
  "no-project",
  "odd-roles",
];
const identity = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom("owner", "m1", "m2", "stranger", "admin") },
  { weight: 1, arbitrary: fc.constantFrom(...IDENTITIES) },
);

const contentType = fc.option(
  fc.oneof(
    fc.constantFrom(
      "application/json",
      "application/openstack-images-v2.1-json-patch",
      "application/openstack-images-v2.0-json-patch",
      "application/json-patch+json",
      "text/plain",
      "multipart/form-data; boundary=x",
      "application/json; charset=latin1",
      "application/x-www-form-urlencoded",
    ),
    printable,
  ),
  { nil: undefined },
);

interface Spec {
  path: Path;
  method: string;
  who: string;
  body: Body;
  accept: { value: string | undefined; json: boolean | "either" };
  requestId: string | undefined;
  contentType: string | undefined;
}

const spec: fc.Arbitrary<Spec> = fc
  .record({
    path,
    pick: fc.nat(),
    odd: fc.option(fc.constantFrom("HEAD", "OPTIONS", "PROPFIND", "PATCH", "PUT", "DELETE", "POST"), {
      freq: 8,
      nil: undefined,
    }),
    who: identity,
    body,
    accept,
    requestId,
    contentType,
  })
  .map(({ path, pick, odd, ...rest }) => ({
    ...rest,
    path,
    method: odd ?? (path.methods[pick % path.methods.length] as string),
  }));

// ------------------------------------------------------------------ sending and judging

function headersFor(s: Spec): Record<string, string> {
  const who = s.who;
  let h: Record<string, string> = {};
  if (who in P) h = identityHeaders({ project: P[who as keyof typeof P], admin: who === "admin" });
  else if (who === "unconfirmed") h = { "X-Identity-Status": "Invalid", "X-Project-Id": P.owner };
  else if (who === "no-project") h = { "X-Identity-Status": "Confirmed", "X-Roles": "admin" };
  else if (who === "odd-roles")
    h = { "X-Identity-Status": "Confirmed", "X-Project-Id": P.stranger, "X-Roles": " ,ADMIN , ," };
  if (s.accept.value !== undefined) h.Accept = s.accept.value;
  if (s.requestId !== undefined) h["X-Openstack-Request-Id"] = s.requestId;
  if (s.contentType !== undefined) h["Content-Type"] = s.contentType;
  return h;
}

function bodyFor(b: Body): { init: BodyInit | undefined; text: string } {
  switch (b.kind) {
    case "none":
      return { init: undefined, text: "" };
    case "json": {
      const text = fill(JSON.stringify(b.value) ?? "null");
      return { init: text, text };
    }
    case "text":
      return { init: fill(b.text), text: b.text };
    case "bytes":
      return { init: new Uint8Array(b.bytes), text: "" };
    case "deep": {
      const close = b.open === "[" ? "]" : "}";
      const text = b.open.repeat(b.depth) + close.repeat(b.depth);
      return { init: text, text: "" };
    }
    case "huge":
      return { init: JSON.stringify({ [b.key]: b.unit.repeat(b.size) }), text: "" };
    case "stream": {
      const chunk = new Uint8Array(Math.min(b.size, 16_384)).fill(0x20);
      let left = b.size;
      return {
        init: new ReadableStream({
          pull(c) {
            if (left <= 0) return c.close();
            const n = Math.min(left, chunk.byteLength);
            c.enqueue(chunk.slice(0, n));
            left -= n;
          },
        }),
        text: "",
      };
    }
  }
}

/** Methods whose bodies fetch accepts. */
const CARRIES_BODY = new Set(["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"]);

let baseline = "";

async function judge(s: Spec): Promise<string[]> {
  const url = `${BASE}${fill(s.path.template)}`;
  const { init, text: sentText } = CARRIES_BODY.has(s.method)
    ? bodyFor(s.body)
    : { init: undefined, text: "" };
  const res = await exports.default.fetch(
    new Request(url, { method: s.method, headers: headersFor(s), body: init }),
  );
  const text = await res.text();
  sent++;
  const problems: string[] = [];
  if (res.status >= 500) problems.push(`answered ${res.status}: ${text}`);

  const id = res.headers.get("x-openstack-request-id") ?? "";
  // Header values arrive trimmed of surrounding blanks (Fetch's normalisation).
  const sentId = s.requestId?.replace(/^[ \t]+|[ \t]+$/g, "");
  const wantId =
    sentId !== undefined && CLIENT_REQUEST_ID.test(sentId)
      ? sentId.startsWith("req-")
        ? sentId
        : `req-${sentId}`
      : null;
  if (wantId !== null ? id !== wantId : !GENERATED_REQUEST_ID.test(id))
    problems.push(`x-openstack-request-id ${JSON.stringify(id)} for ${JSON.stringify(s.requestId)}`);

  // What the client sent may come back in a message; only text it did not send is a leak.
  let echoed = sentText + url;
  try {
    echoed += decodeURIComponent(url);
  } catch {
    // not decodable: the raw URL is what can be echoed
  }
  if (LEAK.test(text) && !LEAK.test(echoed)) problems.push(`leaks internals: ${text.slice(0, 300)}`);

  const type = res.headers.get("Content-Type");
  if (res.status >= 400 && s.method !== "HEAD") {
    problems.push(...errorShapeProblems(res.status, type, text, s.accept.json));
    if (res.status === 405 && !res.headers.get("Allow")) problems.push("405 without Allow");
    if (res.status === 415 && !res.headers.get("Accept-Patch")) problems.push("415 without Accept-Patch");
  } else if (res.status < 300 && res.status !== 204 && s.method !== "HEAD") {
    if (type !== "application/json") problems.push(`success with Content-Type ${type}`);
    try {
      JSON.parse(text);
    } catch {
      problems.push("success body is not JSON");
    }
  } else if (res.status === 204 && text !== "") problems.push("204 with a body");

  const after = await dump();
  if (res.status >= 400 && res.status < 500 && after !== baseline)
    problems.push(`rejected with ${res.status} yet the database changed`);
  baseline = after;
  return problems;
}

function describeSpec(s: Spec): string {
  const b = s.body.kind === "json" ? JSON.stringify(s.body.value) : JSON.stringify(s.body).slice(0, 200);
  return `${s.method} ${fill(s.path.template)} as ${s.who} accept=${JSON.stringify(s.accept.value)} id=${JSON.stringify(s.requestId)} type=${JSON.stringify(s.contentType)} body=${b}`;
}

// ------------------------------------------------------------------ the suite

describe("fuzzing the member and image routes", () => {
  beforeAll(async () => {
    await reseed();
    baseline = await dump();
  });

  for (let batch = 0; batch < BATCHES; batch++) {
    it(`batch ${batch + 1}/${BATCHES}: ${PER_BATCH} requests, no 5xx, SPEC error shapes, rejected requests write nothing`, async () => {
      // Successful fuzz requests may delete or hide the seed; every batch starts from a fresh one.
      if (batch > 0) {
        await reseed();
        baseline = await dump();
      }
      await fc.assert(
        fc.asyncProperty(spec, async (s) => {
          const problems = await judge(s);
          if (problems.length > 0) throw new Error(`${describeSpec(s)}\n- ${problems.join("\n- ")}`);
        }),
        { numRuns: PER_BATCH, endOnFailure: true },
      );
    }, 180_000);
  }

  it("sent at least 10,000 generated requests", () => {
    console.log(`fuzz suite: ${sent} generated requests`);
    expect(sent).toBeGreaterThanOrEqual(BATCHES * PER_BATCH);
    expect(sent).toBeGreaterThanOrEqual(10_000);
  });
});
