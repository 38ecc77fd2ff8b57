import { describe, expect, it } from "vitest";
import { ApiError, unavailable } from "../../src/http/errors";

/**
 * The closed error vocabulary (issue 12): the checks that matter run in `tsc` (npm run
 * typecheck), where an unused @ts-expect-error fails as soon as ApiError accepts the status.
 */
describe("ApiError", () => {
  it("takes only the statuses the API answers", () => {
    // @ts-expect-error 418 is no status of this API
    const teapot = new ApiError(418, "I'm a teapot");
    // @ts-expect-error 500 is onError's alone, for failures nobody threw on purpose
    const internal = new ApiError(500, "boom");
    expect([teapot.status, internal.status]).toEqual([418, 500]);
    expect(new ApiError(404, "x").status).toBe(404);
  });

  it("builds every 503 with Retry-After", () => {
    const e = unavailable(7);
    expect([e.status, e.headers["Retry-After"]]).toEqual([503, "7"]);
    expect(unavailable().headers["Retry-After"]).toBe("30");
  });
});
