import { Params } from "../db/sql";
import type { ApiError } from "../http/errors";
import type { Credentials, Target } from "./check";
import { imageTarget, type TargetImage } from "./image-target";
import { allows, checkFor, type Policy } from "./policy";
import { reduce, sqlText } from "./sql";

/**
 * A route's authorization as data: the checks Glance makes, in Glance's order, each a rule (a
 * policy rule, or a fixed one of defaults.ts) with the answer when it fails. The same steps
 * give the write's SQL guard (`guardSql`) and, on the row read in the same batch, the first
 * refusal (`refusal`): one source for both.
 */
export interface Step<A> {
  rule: string;
  /** Glance runs this check only without enforce_new_defaults (its legacy owner checks). */
  legacyOnly?: true;
  /**
   * ImageAPIPolicy: when the rule fails on an image the caller may not get_image either, the
   * answer is a bare 404, so that a refusal never tells that the image exists.
   */
  hiddenUnlessGetImage?: true;
  fail: (ask: A) => ApiError;
}

/** What one statement read about the image, and whether the caller holds a membership of it. */
export interface ImageFacts extends TargetImage {
  callerIsMember: boolean;
}

const applies =
  (p: Policy) =>
  <A>(s: Step<A>) =>
    !s.legacyOnly || p.ruleSet === "legacy";

/** The first step that fails for this image, as its error; null when all pass. */
export function refusal<A>(
  p: Policy,
  creds: Credentials,
  steps: readonly Step<A>[],
  image: ImageFacts,
  ask: A,
  hidden: (ask: A) => ApiError,
): ApiError | null {
  const target = imageTarget(image, creds.project_id ?? "", image.callerIsMember);
  return firstRefusal(p, creds, steps, target, ask, hidden);
}

/** As `refusal`, for a target that is no stored image (an image asked for by POST). */
export function firstRefusal<A>(
  p: Policy,
  creds: Credentials,
  steps: readonly Step<A>[],
  target: Target,
  ask: A,
  hidden?: (ask: A) => ApiError,
): ApiError | null {
  for (const step of steps.filter(applies(p))) {
    if (allows(p, step.rule, creds, target)) continue;
    if (hidden && step.hiddenUnlessGetImage && !allows(p, "get_image", creds, target)) return hidden(ask);
    return step.fail(ask);
  }
  return null;
}

/** A guard's SQL with its values as markers (`\uE001n\uE001`), and the values. */
interface GuardTemplate {
  sql: string;
  values: unknown[];
}

/**
 * Templates by policy, then by the steps' rules and the credentials: the same caller's writes
 * reduce the same rules (a guard depends on nothing else).
 */
const templates = new WeakMap<Policy, Map<string, GuardTemplate>>();
const TEMPLATES_PER_POLICY = 5_000;
const MARKER = /\uE001(\d+)\uE001/g;

function template<A>(p: Policy, creds: Credentials, steps: readonly Step<A>[]): GuardTemplate {
  const applied = steps.filter(applies(p));
  const byKey = templates.get(p) ?? new Map<string, GuardTemplate>();
  templates.set(p, byKey);
  const key = `${applied.map((s) => s.rule).join("\u0000")}\u0001${JSON.stringify(creds)}`;
  const known = byKey.get(key);
  if (known) return known;
  // Equal values share a marker, as the statement's Params share a placeholder: equal checks
  // then read alike and are written once.
  const params = new Params();
  const param = (v: unknown) => `\uE001${Number(params.param(v).slice(1)) - 1}\uE001`;
  const parts = applied.map((s) =>
    sqlText(reduce(checkFor(p, s.rule, creds), { creds, rules: p.rules, param })),
  );
  const made = { sql: [...new Set(parts)].join(" AND ") || "1", values: params.values };
  if (byKey.size >= TEMPLATES_PER_POLICY) byKey.clear();
  byKey.set(key, made);
  return made;
}

/**
 * The same steps as one SQL predicate over image `i`, for the write's WHERE. Reducing the policy
 * is pure in (policy, steps, credentials), so it is done once per caller and isolate and only
 * the placeholders are numbered per statement.
 */
export function guardSql<A>(
  p: Policy,
  creds: Credentials,
  steps: readonly Step<A>[],
  param: (v: unknown) => string,
): string {
  const { sql, values } = template(p, creds, steps);
  const bound = new Map<string, string>();
  return sql.replace(MARKER, (_, n: string) => {
    const known = bound.get(n);
    if (known !== undefined) return known;
    const placeholder = param(values[Number(n)]);
    bound.set(n, placeholder);
    return placeholder;
  });
}
