import type { Check, Credentials, Rules } from "./check";
import { formatParts, literalText, PyError, pyStr } from "./evaluate";
import { targetSql } from "./image-target";

/**
 * A check reduced, for credentials known at request time, to a predicate over the image row `i`
 * (docs/reference.md §11 "Atomic"): what is known folds to true/false, what depends on the row becomes SQL.
 * The write statements put it in their WHERE, so the rule that explains a refusal (evaluate.ts,
 * on the row read in the same batch) is the rule that guarded the write.
 */
export type Reduced = boolean | string;

export interface SqlScope {
  creds: Credentials;
  rules: Rules;
  /** Placeholder for a bound value (the store's numbering). */
  param: (v: unknown) => string;
}

const not = (r: Reduced): Reduced => (typeof r === "boolean" ? !r : `NOT (${r})`);

/**
 * `a OP b OP c …` as a balanced tree of parentheses: SQLite parses a flat chain into a tree as
 * deep as it is long, and D1 refuses expressions deeper than 100 (an allow-list of 100 projects
 * is a realistic override); balanced, the depth grows with log2 of the length.
 */
function balanced(sql: string[], op: "AND" | "OR"): string {
  if (sql.length === 1) return sql[0] as string;
  const half = Math.ceil(sql.length / 2);
  return `(${balanced(sql.slice(0, half), op)}) ${op} (${balanced(sql.slice(half), op)})`;
}

function all(parts: Reduced[]): Reduced {
  if (parts.some((p) => p === false)) return false;
  const sql = parts.filter((p): p is string => typeof p === "string");
  return sql.length === 0 ? true : balanced(sql, "AND");
}

function any(parts: Reduced[]): Reduced {
  if (parts.some((p) => p === true)) return true;
  const sql = parts.filter((p): p is string => typeof p === "string");
  return sql.length === 0 ? false : balanced(sql, "OR");
}

/**
 * Where oslo.policy raises (a bad `%` format, a credential path through a non-mapping, a left
 * side that is not Python, a rule that recurses into itself) the whole decision denies, as in
 * evaluate.ts, but only if evaluation gets there: `@ or <error>` allows, `not <error>` denies.
 * So each check reduces to two predicates: `ok` (it holds, when nothing raised) and `err`
 * (evaluating it raises), combined with Python's short-circuit order; the decision is
 * `ok AND NOT err`.
 */
interface Reduction {
  ok: Reduced;
  err: Reduced;
}

const holds = (ok: Reduced): Reduction => ({ ok, err: false });
const raises = (when: Reduced): Reduction => ({ ok: false, err: when });

class Raise extends Error {}

/** Values a credential path holds (oslo.policy's _find_in_dict: lists match on any element). */
function credentialValues(creds: unknown, path: string[]): string[] {
  if (path.length === 0) return [pyStr(creds)];
  if (creds === null || typeof creds !== "object" || Array.isArray(creds)) throw new Raise();
  const [head, ...rest] = path as [string, ...string[]];
  const value = (creds as Record<string, unknown>)[head];
  if (!Object.hasOwn(creds, head) || value === undefined) return [];
  if (Array.isArray(value)) return value.flatMap((v) => credentialValues(v, rest));
  return credentialValues(value, rest);
}

/**
 * The formatted match over the row: SQL text (or a constant) and whether every key it reads is
 * in the target (`present`); `error` when formatting raises once those keys were found.
 */
function formatted(
  match: string,
  scope: SqlScope,
): { present: Reduced; text: string | { constant: string }; error: boolean } {
  const parts = formatParts(match);
  const error = parts.some((p) => typeof p !== "string" && "error" in p);
  const keys = parts.filter((p): p is { key: string } => typeof p !== "string" && "key" in p);
  if (keys.length === 0) {
    const constant = parts.filter((p): p is string => typeof p === "string").join("");
    return { present: true, text: { constant }, error };
  }
  const project = scope.param(scope.creds.project_id);
  const pieces: string[] = [];
  const present: Reduced[] = [];
  for (const p of parts) {
    if (typeof p === "string") {
      if (p !== "") pieces.push(scope.param(p));
    } else if ("key" in p) {
      const t = targetSql(p.key, project, scope.param);
      pieces.push(t.value);
      present.push(t.present);
    }
  }
  return { present: all(present), text: pieces.join(" || "), error };
}

function inList(sql: string, values: string[], scope: SqlScope): Reduced {
  if (values.length === 0) return false;
  return `${sql} IN (${[...new Set(values)].map((v) => scope.param(v)).join(", ")})`;
}

/** Compares the formatted match with candidate values: a constant folds, SQL stays. */
function compare(f: ReturnType<typeof formatted>, values: string[], scope: SqlScope, lower = false): Reduced {
  if (typeof f.text !== "string") {
    const c = lower ? f.text.constant.toLowerCase() : f.text.constant;
    return values.includes(c);
  }
  return inList(lower ? `lower(${f.text})` : f.text, values, scope);
}

/** How many values one rule binds as parameters of their own before it binds one JSON array. */
const MAX_PARAMS = 24;

/** Reduces `check`; `rule:` references expand in place; an undefined rule is false. */
export function reduce(check: Check, scope: SqlScope): Reduced {
  // Values are marked while reducing and bound at the end, so that only those the folded SQL
  // still uses take a placeholder (D1 refuses a statement with unused trailing bindings).
  const values: unknown[] = [];
  const mark = (v: unknown) => `\uE000${values.push(v) - 1}\uE000`;
  const r = reduceIn(check, { ...scope, param: mark }, new Set());
  const reduced = all([r.ok, not(r.err)]);
  if (typeof reduced === "boolean") return reduced;
  const used = [...new Set([...reduced.matchAll(/\uE000(\d+)\uE000/g)].map((m) => Number(m[1])))];
  if (used.length <= MAX_PARAMS) {
    return reduced.replace(/\uE000(\d+)\uE000/g, (_, n: string) => scope.param(values[Number(n)]));
  }
  // D1 binds at most 100 values a statement: a long rule (an allow-list of projects) binds its
  // values as one JSON array instead, each read back by its index.
  const list = scope.param(JSON.stringify(used.map((n) => values[n])));
  const at = new Map(used.map((n, i) => [n, i]));
  return reduced.replace(
    /\uE000(\d+)\uE000/g,
    (_, n: string) => `json_extract(${list}, '$[${at.get(Number(n))}]')`,
  );
}

function reduceIn(check: Check, scope: SqlScope, expanding: ReadonlySet<string>): Reduction {
  switch (check.kind) {
    case "true":
      return holds(true);
    case "false":
      return holds(false);
    case "not": {
      // not not x is x: a chain of nots must not become as deep a chain of SQL NOTs.
      let inner: Check = check;
      let negate = false;
      while (inner.kind === "not") {
        negate = !negate;
        inner = inner.check;
      }
      const r = reduceIn(inner, scope, expanding);
      return negate ? { ok: not(r.ok), err: r.err } : r;
    }
    case "and": {
      // AndCheck stops at the first false; an error on the way raises: check i raises only if
      // all before it held. Written flat (then balanced), not as a chain of pairs.
      const rs = check.checks.map((c) => reduceIn(c, scope, expanding));
      return {
        ok: all(rs.map((r) => r.ok)),
        err: any(rs.map((r, i) => all([...rs.slice(0, i).map((q) => q.ok), r.err]))),
      };
    }
    case "or": {
      // OrCheck stops at the first true: check i raises only if all before it failed.
      const rs = check.checks.map((c) => reduceIn(c, scope, expanding));
      return {
        ok: any(rs.map((r) => r.ok)),
        err: any(rs.map((r, i) => all([...rs.slice(0, i).map((q) => not(q.ok)), r.err]))),
      };
    }
    case "rule": {
      const rule = scope.rules.get(check.name);
      if (!rule) return holds(false);
      if (expanding.has(check.name)) return raises(true);
      return reduceIn(rule, scope, new Set([...expanding, check.name]));
    }
    case "role": {
      const f = formatted(check.match, scope);
      if (f.error) return raises(f.present);
      const roles = scope.creds.roles.map((r) => r.toLowerCase());
      return holds(all([f.present, compare(f, roles, scope, true)]));
    }
    case "generic": {
      const f = formatted(check.match, scope);
      if (f.error) return raises(f.present);
      let values: string[];
      try {
        const literal = literalText(check.left);
        values = literal !== null ? [literal] : credentialValues(scope.creds, check.left.split("."));
      } catch (err) {
        if (err instanceof PyError || err instanceof Raise) return raises(f.present);
        throw err;
      }
      return holds(all([f.present, compare(f, values, scope)]));
    }
  }
}

/** SQL text for a reduced check: folded constants become 1 or 0. */
export const sqlText = (r: Reduced): string => (r === true ? "1" : r === false ? "0" : `(${r})`);
