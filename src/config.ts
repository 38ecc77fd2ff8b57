import { unavailable } from "./http/errors";
import { log } from "./log";

const DEFAULT_MEMBER_QUOTA = 128;

/** IMAGE_MEMBER_QUOTA: default 128, negative = unlimited; garbage fails closed (503, logged). */
export function memberQuota(env: Cloudflare.Env): number {
  const raw = (env.IMAGE_MEMBER_QUOTA ?? "").trim();
  if (raw === "") return DEFAULT_MEMBER_QUOTA;
  if (!/^-?\d+$/.test(raw)) {
    log.error(`IMAGE_MEMBER_QUOTA ${JSON.stringify(raw)} is not an integer`);
    throw unavailable();
  }
  return Number.parseInt(raw, 10);
}

const DEFAULT_AUDIT_RETENTION_DAYS = 365;

/**
 * AUDIT_RETENTION_DAYS (docs/reference.md §12.4): days a member-event record is kept, default 365. Anything
 * but a positive integer keeps every record (null) and is logged: a typo must not erase the trail.
 */
export function auditRetentionDays(env: Cloudflare.Env): number | null {
  const raw = (env.AUDIT_RETENTION_DAYS ?? "").trim();
  if (raw === "") return DEFAULT_AUDIT_RETENTION_DAYS;
  if (!/^\d{1,6}$/.test(raw) || Number(raw) < 1) {
    log.error(
      `AUDIT_RETENTION_DAYS ${JSON.stringify(raw)} is not a positive number of days; no record is purged`,
    );
    return null;
  }
  return Number(raw);
}
