/** Timestamps as stored and shown: UTC, second precision, RFC 3339 (SPEC §2). */
export function now(): string {
  return `${new Date().toISOString().slice(0, 19)}Z`;
}

/** The one check for a UNIQUE violation, which the members store turns into 409. */
export function isUniqueViolation(err: unknown): boolean {
  return err instanceof Error && /UNIQUE constraint failed/.test(err.message);
}

/** Any other constraint (CHECK, NOT NULL, FOREIGN KEY): a bug in what the app wrote. */
export function isConstraintViolation(err: unknown): boolean {
  return err instanceof Error && /(CHECK|NOT NULL|FOREIGN KEY) constraint failed/.test(err.message);
}

/** SQLite booleans. */
export const flag = (b: boolean): 0 | 1 => (b ? 1 : 0);
