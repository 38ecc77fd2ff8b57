import { Hono } from "hono";
import { authenticate } from "./auth/strategy";
import { d1Bookmarks, d1Session } from "./db/session";
import { schemas, versions } from "./discovery/routes";
import type { AppEnv } from "./env";
import { corsWhenConfigured } from "./http/cors";
import { errorResponse, onError, RESOURCE_NOT_FOUND } from "./http/errors";
import { requestId } from "./http/request-id";
import { allowOnly } from "./http/routing";
import { imageActions } from "./images/action-routes";
import { imageFile } from "./images/file-routes";
import { images } from "./images/routes";
import { imageTags } from "./images/tag-routes";
import { memberEvents } from "./member-events/routes";
import { members } from "./members/routes";
import { apiDocs } from "./openapi/serve";
import { credentialsOf, policyFor } from "./policy/policy";
import { shares } from "./shares/routes";

/** The one app: request id, then identity for /v2, then the resources; errors rendered once. */
export function buildApp(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use(requestId);
  app.use(corsWhenConfigured);
  app.use("/v2/*", d1Bookmarks);
  app.use("/v2/*", authenticate);
  app.use("/v2/*", async (c, next) => {
    const policy = policyFor(c.env, c.get("requestId"));
    c.set("policy", policy);
    c.set("creds", credentialsOf(c.get("caller"), policy));
    await next();
  });
  app.use("/v2/*", d1Session);
  allowOnly(app, "/", ["GET"]);
  allowOnly(app, "/versions", ["GET"]);
  app.route("/", versions);
  app.route("/v2/schemas", schemas);
  app.route("/v2/images", members);
  app.route("/v2/images", imageFile);
  app.route("/v2/images", imageActions);
  app.route("/v2/images", imageTags);
  app.route("/v2/images", images);
  app.route("/v2/shares", shares);
  app.route("/v2/member-events", memberEvents);
  app.route("/", apiDocs);
  // Rendered here rather than thrown: a throw from notFound skips the middleware's after-part.
  app.notFound((c) => errorResponse(c.req.header("Accept"), 404, RESOURCE_NOT_FOUND));
  app.onError(onError);
  return app;
}

export const app = buildApp();
