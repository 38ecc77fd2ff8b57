import { Hono } from "hono";
import type { AppEnv } from "../env";
import image from "./documents/image.json";
import member from "./documents/member.json";
import memberEvents from "./documents/member-events.json";
import members from "./documents/members.json";
import shares from "./documents/shares.json";

/** Version discovery (docs/reference.md §7): no authentication; clients follow the hrefs. */
export const versions = new Hono<AppEnv>();

const VERSIONS = ["v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0"];

export function versionsDocument(base: string) {
  return {
    versions: VERSIONS.map((id, n) => ({
      id,
      status: n === 0 ? "CURRENT" : "SUPPORTED",
      links: [{ rel: "self", href: `${base}/v2/` }],
    })),
  };
}

function baseUrl(publicEndpoint: string | undefined, requestUrl: string): string {
  const configured = (publicEndpoint ?? "").trim().replace(/\/+$/, "");
  return configured || new URL(requestUrl).origin;
}

versions.get("/", (c) => c.json(versionsDocument(baseUrl(c.env.PUBLIC_ENDPOINT, c.req.url)), 300));
versions.get("/versions", (c) => c.json(versionsDocument(baseUrl(c.env.PUBLIC_ENDPOINT, c.req.url))));

/** /v2/schemas/* (docs/reference.md §6): the documents python-glanceclient validates against. */
export const schemas = new Hono<AppEnv>();

const imagesSchema = {
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
};

schemas.get("/member", (c) => c.json(member));
schemas.get("/members", (c) => c.json(members));
schemas.get("/image", (c) => c.json(image));
schemas.get("/images", (c) => c.json(imagesSchema));
// docs/reference.md §12.2, §12.4.
schemas.get("/shares", (c) => c.json(shares));
schemas.get("/member-events", (c) => c.json(memberEvents));
