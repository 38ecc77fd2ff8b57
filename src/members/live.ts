/**
 * Expiring memberships (docs/reference.md §12.1): from `expires_at` on, a membership is gone for every
 * purpose, decided by the database at request time. Reads go through the view `live_members`
 * (migrations/0005); writes of `image_members` carry LIVE. Both read SQLite's clock, so one
 * statement sees one instant, and no job is needed for correctness (the purge only tidies).
 */
export const DB_NOW = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')";

/** The row (unaliased `image_members` columns) is a membership now; the view's condition. */
export const LIVE = `(expires_at IS NULL OR expires_at > ${DB_NOW})`;

/** The row had expired and only waits for the purge. */
export const EXPIRED = `(expires_at IS NOT NULL AND expires_at <= ${DB_NOW})`;
