import { describe, expect, it } from "vitest";
import { as, call } from "./helpers";

// The documents of spec/schemas, written out here so that a change to the served copy fails.
const MEMBER_PROPERTIES = {
  member_id: { type: "string", description: "An identifier for the image member (tenantId)" },
  image_id: {
    type: "string",
    description: "An identifier for the image",
    pattern: "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$",
  },
  created_at: { type: "string", description: "Date and time of image member creation" },
  updated_at: { type: "string", description: "Date and time of last modification of image member" },
  status: {
    type: "string",
    description: "The status of this image member",
    enum: ["pending", "accepted", "rejected"],
  },
  expires_at: {
    type: ["null", "string"],
    description:
      "Date and time at which the membership ends by itself (glance-edge extension); absent or null: never",
    format: "date-time",
  },
  schema: { readOnly: true, type: "string" },
};
const MEMBER = { name: "member", properties: MEMBER_PROPERTIES };
const MEMBERS = {
  name: "members",
  properties: { members: { type: "array", items: MEMBER }, schema: { type: "string" } },
  links: [{ rel: "describedby", href: "{schema}" }],
};

describe("schema documents (docs/reference.md §6)", () => {
  it("member and members equal spec/schemas as parsed JSON", async () => {
    for (const [path, doc] of [
      ["/v2/schemas/member", MEMBER],
      ["/v2/schemas/members", MEMBERS],
    ] as const) {
      const res = await as("p").get(path);
      expect(res.status).toBe(200);
      expect(res.headers.get("Content-Type")).toBe("application/json");
      expect(await res.json()).toStrictEqual(doc);
    }
  });

  it("image is Glance's image schema; images wraps it", async () => {
    const image = (await (await as("p").get("/v2/schemas/image")).json()) as {
      name: string;
      properties: Record<string, { readOnly?: boolean; enum?: unknown[] }>;
      additionalProperties: unknown;
      links: unknown;
    };
    expect(image.name).toBe("image");
    expect(Object.keys(image.properties)).toHaveLength(34);
    expect(image.properties.visibility?.enum).toEqual(["community", "public", "private", "shared"]);
    expect(image.properties.status?.readOnly).toBe(true);
    expect(image.additionalProperties).toStrictEqual({ type: "string" });
    expect(image.links).toStrictEqual([
      { rel: "self", href: "{self}" },
      { rel: "enclosure", href: "{file}" },
      { rel: "describedby", href: "{schema}" },
    ]);
    const images = await (await as("p").get("/v2/schemas/images")).json();
    expect(images).toStrictEqual({
      name: "images",
      properties: {
        images: { type: "array", items: image },
        first: { type: "string" },
        next: { type: "string" },
        schema: { type: "string" },
      },
      links: [
        { rel: "first", href: "{first}" },
        { rel: "next", href: "{next}" },
        { rel: "describedby", href: "{schema}" },
      ],
    });
  });

  it("schemas are under /v2: identity required", async () => {
    const res = await call("GET", "/v2/schemas/member");
    expect(res.status).toBe(401);
  });
});

function versions(base: string) {
  return {
    versions: ["v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0"].map((id, n) => ({
      id,
      status: n === 0 ? "CURRENT" : "SUPPORTED",
      links: [{ rel: "self", href: `${base}/v2/` }],
    })),
  };
}

describe("version discovery (docs/reference.md §7)", () => {
  it("GET / is 300 and GET /versions 200, without authentication, with absolute hrefs", async () => {
    const root = await call("GET", "/");
    expect(root.status).toBe(300);
    expect(root.headers.get("Content-Type")).toBe("application/json");
    expect(await root.json()).toStrictEqual(versions("http://glance.test"));
    const list = await call("GET", "/versions");
    expect(list.status).toBe(200);
    expect(await list.json()).toStrictEqual(versions("http://glance.test"));
  });

  it("hrefs follow the request's origin, or PUBLIC_ENDPOINT when set", async () => {
    for (const [endpoint, url, base] of [
      ["", "http://10.0.0.5:9292/versions", "http://10.0.0.5:9292"],
      ["https://images.example.com/", "http://internal/versions", "https://images.example.com"],
      ["https://edge.example.com/glance", "http://internal/", "https://edge.example.com/glance"],
    ] as const) {
      const res = await call("GET", url, {
        headers: { Accept: undefined },
        vars: { PUBLIC_ENDPOINT: endpoint },
      });
      expect(await res.json()).toStrictEqual(versions(base));
    }
  });

  it("405 for other methods on / and /versions", async () => {
    for (const path of ["/", "/versions"]) {
      const res = await call("POST", path);
      expect(res.status).toBe(405);
      expect(res.headers.get("Allow")).toBe("GET");
    }
  });
});
