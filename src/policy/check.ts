/**
 * oslo.policy's check-string language as data (docs/reference.md §11). `parseCheck` (parse.ts) builds it,
 * `evaluate` (evaluate.ts) decides it for known credentials and target, and sql.ts reduces it,
 * for known credentials, to a predicate over an image row. Plug-in checks (`http:`) and kinds
 * oslo.policy does not register parse to `false` (deny), as oslo.policy does.
 */
export type Check =
  /** `@`, `""` (and an empty rule): always passes. */
  | { kind: "true" }
  /** `!`, and whatever does not parse (with why, for logs and the lint tool). */
  | { kind: "false"; reason?: string }
  | { kind: "not"; check: Check }
  | { kind: "and"; checks: Check[] }
  | { kind: "or"; checks: Check[] }
  /** `rule:NAME`: another rule of the policy; an undefined one denies. */
  | { kind: "rule"; name: string }
  /** `role:NAME`: NAME may hold `%(key)s` target substitutions; compared case-insensitively. */
  | { kind: "role"; match: string }
  /**
   * `LEFT:RIGHT` for any other LEFT: RIGHT is a %-format over the target (a missing key fails
   * the check); LEFT is a Python literal (`'x'`, `True`, `12`) compared with the formatted
   * RIGHT as text, or else a dotted path into the credentials.
   */
  | { kind: "generic"; left: string; match: string };

/** Credentials as oslo.policy sees them (docs/reference.md §11): roles lower-cased. */
export interface Credentials {
  roles: string[];
  project_id: string | null;
  user_id: string | null;
  project_domain_id: string | null;
  user_domain_id: string | null;
  is_admin: boolean;
  /** "all" for a system-scoped token (oslo.context's system_scope), else null. */
  system_scope?: string | null;
  /** What the token is scoped to; a project-scoped rule needs "project" (enforce_scope). */
  scope?: "project" | "system" | "domain";
  [key: string]: unknown;
}

/** A target: image fields and custom properties by name; a missing key fails a check on it. */
export type Target = Readonly<Record<string, unknown>>;

/** The rules of a policy by name (defaults with overrides layered on top), parsed. */
export type Rules = ReadonlyMap<string, Check>;
