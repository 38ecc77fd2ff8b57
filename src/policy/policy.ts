import { parse as parseYaml } from "yaml";
import type { Caller } from "../auth/caller";
import { ApiError, notAuthorizedText, unavailable } from "../http/errors";
import { log } from "../log";
import type { Check, Credentials, Rules, Target } from "./check";
import { FIXED, RULE_SETS, type RuleSetName } from "./defaults";
import { evaluate, explain, undefinedRuleRefs } from "./evaluate";
import { parseCheck } from "./parse";

/**
 * The policy in force (docs/reference.md §11): a rule set (POLICY_DEFAULTS) with the operator's overrides
 * (POLICY_OVERRIDES) layered on top, exactly as Glance layers policy.yaml over its defaults.
 */
export interface Policy {
  readonly ruleSet: RuleSetName;
  /** Every rule as its check string: defaults, then overrides (new names included). */
  readonly text: Readonly<Record<string, string>>;
  readonly rules: Rules;
  /** docs/reference.md §4 and Glance's code checks, in the same language (src/policy/defaults.ts FIXED). */
  readonly fixed: Rules;
  /** Problems that deny rather than fail the service: bad strings, rules that name no rule. */
  readonly warnings: readonly string[];
}

export type PolicyLoad = { ok: true; policy: Policy } | { ok: false; error: string };

/** An overrides document: a mapping of rule name → check string, as JSON or YAML. */
export function parseOverrides(
  doc: string,
): { ok: true; rules: Record<string, string> } | { ok: false; error: string } {
  if (doc.trim() === "") return { ok: true, rules: {} };
  let value: unknown;
  try {
    value = JSON.parse(doc);
  } catch {
    try {
      value = parseYaml(doc);
    } catch (err) {
      return {
        ok: false,
        error: `not JSON or YAML (${err instanceof Error ? err.message.split("\n")[0] : String(err)})`,
      };
    }
  }
  // An empty YAML document is an empty policy file, which oslo.policy accepts.
  if (value === null || value === undefined) return { ok: true, rules: {} };
  if (typeof value !== "object" || Array.isArray(value))
    return { ok: false, error: "not a mapping of rule names to check strings" };
  const rules: Record<string, string> = {};
  for (const [name, check] of Object.entries(value)) {
    if (typeof check !== "string")
      return { ok: false, error: `rule ${JSON.stringify(name)} is not a string` };
    rules[name] = check;
  }
  return { ok: true, rules };
}

function parseAll(text: Readonly<Record<string, string>>): Map<string, Check> {
  return new Map(Object.entries(text).map(([name, check]) => [name, parseCheck(check)]));
}

const FIXED_RULES = parseAll(FIXED);

export function loadPolicy(defaults: string | undefined, overrides: string | undefined): PolicyLoad {
  const name = (defaults ?? "").trim() || "secure-rbac";
  if (name !== "secure-rbac" && name !== "legacy") {
    return {
      ok: false,
      error: `POLICY_DEFAULTS ${JSON.stringify(name)} is neither "secure-rbac" nor "legacy"`,
    };
  }
  const parsed = parseOverrides(overrides ?? "");
  if (!parsed.ok) return { ok: false, error: `POLICY_OVERRIDES: ${parsed.error}` };
  const text = { ...RULE_SETS[name], ...parsed.rules };
  const rules = parseAll(text);
  const warnings: string[] = [];
  for (const [rule, check] of rules) {
    for (const reason of unparseable(check)) warnings.push(`rule ${rule} denies: ${reason}`);
  }
  for (const { rule, missing } of undefinedRuleRefs(rules)) {
    warnings.push(`rule ${rule} refers to undefined rule ${missing}, which denies`);
  }
  return { ok: true, policy: { ruleSet: name, text, rules, fixed: FIXED_RULES, warnings } };
}

function unparseable(check: Check): string[] {
  switch (check.kind) {
    case "false":
      return check.reason ? [check.reason] : [];
    case "not":
      return unparseable(check.check);
    case "and":
    case "or":
      return check.checks.flatMap(unparseable);
    default:
      return [];
  }
}

const loaded = new Map<string, PolicyLoad>();

/**
 * The policy for this isolate's configuration, parsed once. A document that is not a mapping of
 * strings fails closed (503 on every /v2 request, logged); bad check strings deny and are
 * logged once; `legacy` warns once, as trusted-headers does.
 */
export function policyFor(env: Cloudflare.Env, requestId: string): Policy {
  const key = `${env.POLICY_DEFAULTS ?? ""}\u0000${env.POLICY_OVERRIDES ?? ""}`;
  let load = loaded.get(key);
  if (!load) {
    load = loadPolicy(env.POLICY_DEFAULTS, env.POLICY_OVERRIDES);
    loaded.set(key, load);
    if (load.ok) {
      for (const w of load.policy.warnings) log.warn(`policy: ${w}`, { request_id: requestId });
      if (load.policy.ruleSet === "legacy") {
        log.warn(
          "POLICY_DEFAULTS=legacy: roles other than admin are ignored (Glance before the secure-RBAC defaults)",
          { request_id: requestId },
        );
      }
    }
  }
  if (!load.ok) {
    log.error(`policy: ${load.error}; refusing every /v2 request`, { request_id: requestId });
    throw unavailable();
  }
  return load.policy;
}

/** Credentials of docs/reference.md §11; `is_admin` is whether context_is_admin holds (Glance's RequestContext). */
export function credentialsOf(caller: Caller, policy: Policy): Credentials {
  const creds: Credentials = {
    roles: caller.roles,
    project_id: caller.projectId,
    user_id: caller.userId,
    project_domain_id: caller.projectDomainId,
    user_domain_id: caller.userDomainId,
    is_admin: false,
    system_scope: caller.scope === "system" ? "all" : null,
    scope: caller.scope,
  };
  const admin = policy.rules.get("context_is_admin");
  creds.is_admin = admin !== undefined && evaluate(admin, {}, creds, policy.rules);
  return creds;
}

/** Glance's rules without scope_types; every other rule it enforces is for project scope. */
const UNSCOPED = new Set(["context_is_admin", "default"]);

/**
 * The check that decides `rule` for these credentials. Under secure-rbac a token scoped to the
 * system or a domain fails every project-scoped rule (oslo.policy's enforce_scope: InvalidScope,
 * which Glance answers as any refusal); the FIXED rules are Glance's code, which has no scope.
 */
export function checkFor(policy: Policy, rule: string, creds: Credentials): Check {
  const fixed = policy.fixed.get(rule);
  if (fixed) return fixed;
  if (policy.ruleSet === "secure-rbac" && (creds.scope ?? "project") !== "project" && !UNSCOPED.has(rule)) {
    return {
      kind: "false",
      reason: `${rule} requires a scope of project, request was made with ${String(creds.scope)} scope`,
    };
  }
  // An undefined rule: oslo.policy falls back to `default` for rules it was never told about.
  return policy.rules.get(rule) ?? policy.rules.get("default") ?? { kind: "false" };
}

/** Whether `rule` (a policy rule, or a FIXED one) holds for these credentials and target. */
export function allows(policy: Policy, rule: string, creds: Credentials, target: Target): boolean {
  return evaluate(checkFor(policy, rule, creds), target, creds, policy.rules);
}

/**
 * A listing's "may list at all" (images.py index, docs/reference.md §12's listings): `rule` against a target
 * holding only the caller's project; 403 in Glance's words when it fails.
 */
export function listingRefusal(policy: Policy, rule: string, creds: Credentials): ApiError | null {
  if (allows(policy, rule, creds, { project_id: creds.project_id })) return null;
  return new ApiError(403, notAuthorizedText(rule));
}

/** As `allows`, naming the sub-check that decided (the operator tool). */
export function explainRule(policy: Policy, rule: string, creds: Credentials, target: Target) {
  return explain(checkFor(policy, rule, creds), target, creds, policy.rules);
}
