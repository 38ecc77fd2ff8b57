import { ApiError, UNAVAILABLE } from "./http/errors";

const DEFAULT_MEMBER_QUOTA = 128;

/** IMAGE_MEMBER_QUOTA: default 128, negative = unlimited; garbage fails closed (503, logged). */
export function memberQuota(env: Cloudflare.Env): number {
  const raw = (env.IMAGE_MEMBER_QUOTA ?? "").trim();
  if (raw === "") return DEFAULT_MEMBER_QUOTA;
  if (!/^-?\d+$/.test(raw)) {
    console.error(
      JSON.stringify({ level: "error", msg: `IMAGE_MEMBER_QUOTA ${JSON.stringify(raw)} is not an integer` }),
    );
    throw new ApiError(503, UNAVAILABLE, { "Retry-After": "30" });
  }
  return Number.parseInt(raw, 10);
}
