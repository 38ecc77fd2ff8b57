import { zValidator } from "@hono/zod-validator";
import type { ValidationTargets } from "hono";
import type { z } from "zod";
import { ApiError } from "./errors";

/**
 * The one validator: zod through @hono/zod-validator, failures thrown as ApiError so that a
 * 400 from a schema has the same shape as every other error. Schemas carry the reference's messages;
 * the first issue answers.
 */
export function validate<T extends keyof ValidationTargets, S extends z.ZodType>(target: T, schema: S) {
  return zValidator(target, schema, (result) => {
    if (!result.success) {
      throw new ApiError(400, result.error.issues[0]?.message ?? "Invalid request.");
    }
  });
}
