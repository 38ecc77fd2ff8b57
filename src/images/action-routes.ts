import { Hono } from "hono";
import { imageProject, requireImageCaller } from "../auth/strategy";
import type { AppEnv } from "../env";
import { allowOnly } from "../http/routing";
import { validate } from "../http/validate";
import { type Action, authorizer, DEACTIVATE, REACTIVATE, TRANSITIONS, transitionError } from "./rules";
import { imageParam } from "./schemas";
import { setStatus } from "./store";

/** POST /v2/images/{image_id}/actions/deactivate and …/reactivate (Glance's image_actions.py). */
export const imageActions = new Hono<AppEnv>();

const STEPS = { deactivate: DEACTIVATE, reactivate: REACTIVATE } as const;

for (const action of Object.keys(TRANSITIONS) as Action[]) {
  const path = `/:image_id/actions/${action}`;
  allowOnly(imageActions, path, ["POST"]);
  imageActions.use(path, requireImageCaller);
  imageActions.post(path, validate("param", imageParam), async (c) => {
    const project = imageProject(c);
    const az = authorizer(c.get("policy"), c.get("creds"));
    const { image_id } = c.req.valid("param");
    const { from, to } = TRANSITIONS[action];
    const steps = STEPS[action];
    // One UPDATE from `from` to `to`, guarded by the rules; the read beside it explains the rest.
    const { image, changed } = await setStatus(c.get("db"), project, image_id.id, from, to, az.guard(steps));
    if (!changed) {
      const settled = az.permit(steps, image, { image: image_id.raw });
      // Already in the target status: Glance's no-op, 204 without a write.
      const refused = transitionError(action, settled.status);
      if (refused) throw refused;
    }
    return c.body(null, 204);
  });
}
