/** Timestamps as stored and shown: UTC, second precision, RFC 3339 (docs/reference.md §2). */
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

/**
 * Numbered placeholders for one statement: the fixed ones first (?1…?n, in order), then one per
 * distinct value asked for later (policy guards), so a guard never collides with the store's own.
 */
export class Params {
  readonly values: unknown[];
  private readonly index = new Map<unknown, string>();
  constructor(...fixed: unknown[]) {
    this.values = [...fixed];
  }
  readonly param = (v: unknown): string => {
    const key = v === null ? null : typeof v === "object" ? JSON.stringify(v) : v;
    let slot = this.index.get(key);
    if (!slot) {
      this.values.push(v);
      slot = `?${this.values.length}`;
      this.index.set(key, slot);
    }
    return slot;
  };
}
