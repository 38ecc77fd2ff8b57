import { stringify } from "yaml";
import type { Credentials } from "./check";
import { RULE_SETS } from "./defaults";
import { ruleCycles } from "./evaluate";
import { imageTarget, type TargetImage } from "./image-target";
import { formatCheck } from "./parse";
import { explainRule, loadPolicy, type Policy, parseOverrides } from "./policy";

/**
 * The operator tool (what oslo.policy ships as oslopolicy-sample-generator and
 * oslopolicy-checker), run by `npm run policy`. Pure: arguments and files in, text and an exit
 * code out; scripts/policy.mjs supplies wrangler.toml's vars and the file system.
 */
export interface CliIo {
  /** POLICY_DEFAULTS and POLICY_OVERRIDES as configured (wrangler.toml [vars], .dev.vars). */
  vars: { POLICY_DEFAULTS?: string; POLICY_OVERRIDES?: string };
  readFile(path: string): string;
  out(text: string): void;
}

export const USAGE = `usage: npm run policy -- <command> [options]

  rules                       print the effective rules as YAML (defaults, then overrides)
  lint [FILE]                 check an overrides document (default: POLICY_OVERRIDES as configured):
                              unparseable strings, rule: to undefined rules, unknown rule names, cycles
  check RULE [caller] [image] would this caller be allowed RULE on this image? names the sub-check
                              that decided

options:
  --defaults secure-rbac|legacy   rule set (default: POLICY_DEFAULTS as configured, else secure-rbac)
  --overrides FILE                overrides document (JSON or YAML) instead of POLICY_OVERRIDES
  --no-overrides                  the defaults alone
caller (check):
  --project ID  --roles a,b  --user ID  --project-domain ID  --user-domain ID
image (check):
  --owner ID  --visibility public|community|shared|private  --member (the caller holds a
  membership)  --property KEY=VALUE (repeatable)  --image JSON (any image fields)`;

function options(argv: string[]) {
  const flags = new Map<string, string[]>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith("--")) {
      positional.push(a);
      continue;
    }
    const [name, inline] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    const boolean = ["member", "no-overrides", "help"].includes(name);
    const value = boolean ? "true" : (inline ?? argv[++i]);
    if (value === undefined) throw new Error(`--${name} needs a value`);
    flags.set(name, [...(flags.get(name) ?? []), value]);
  }
  return { flags, positional, one: (n: string) => flags.get(n)?.at(-1) };
}

/** Runs one command; returns the exit code (0 fine, 1 findings or denied, 2 usage). */
export function runCli(argv: string[], io: CliIo): number {
  let o: ReturnType<typeof options>;
  try {
    o = options(argv);
  } catch (err) {
    io.out(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const [command, ...rest] = o.positional;
  if (!command || o.one("help")) {
    io.out(USAGE);
    return command ? 0 : 2;
  }
  const defaults = o.one("defaults") ?? io.vars.POLICY_DEFAULTS;
  const overridesFile = command === "lint" ? (rest[0] ?? o.one("overrides")) : o.one("overrides");
  const overrides = o.one("no-overrides")
    ? ""
    : overridesFile !== undefined
      ? io.readFile(overridesFile)
      : (io.vars.POLICY_OVERRIDES ?? "");
  switch (command) {
    case "rules":
      return rules(defaults, overrides, io);
    case "lint":
      return lint(defaults, overrides, io);
    case "check":
      return check(rest[0], defaults, overrides, o, io);
    default:
      io.out(`unknown command ${JSON.stringify(command)}\n${USAGE}`);
      return 2;
  }
}

function load(defaults: string | undefined, overrides: string, io: CliIo): Policy | null {
  const load = loadPolicy(defaults, overrides);
  if (load.ok) return load.policy;
  io.out(`error: ${load.error} (the service answers 503 to every /v2 request with this configuration)`);
  return null;
}

function rules(defaults: string | undefined, overrides: string, io: CliIo): number {
  const policy = load(defaults, overrides, io);
  if (!policy) return 1;
  const base = RULE_SETS[policy.ruleSet];
  const lines = [`# Effective rules: POLICY_DEFAULTS=${policy.ruleSet}, with overrides marked.`];
  for (const [name, text] of Object.entries(policy.text)) {
    const mark =
      base[name] === undefined ? "  # added by overrides" : base[name] !== text ? "  # overridden" : "";
    lines.push(`${stringify({ [name]: text }, { lineWidth: 0 }).trimEnd()}${mark}`);
  }
  io.out(lines.join("\n"));
  return 0;
}

/** Every rule name some rule of the policy refers to through `rule:`. */
function referenced(policy: Policy): Set<string> {
  const names = new Set<string>();
  for (const text of Object.values(policy.text))
    for (const m of text.matchAll(/rule:([^\s()]+)/g)) names.add(m[1] as string);
  return names;
}

function lint(defaults: string | undefined, overrides: string, io: CliIo): number {
  const parsed = parseOverrides(overrides);
  if (!parsed.ok) {
    io.out(`error: ${parsed.error}`);
    return 1;
  }
  const policy = load(defaults, overrides, io);
  if (!policy) return 1;
  const findings = [...policy.warnings.map((w) => `error: ${w}`)];
  const known = RULE_SETS[policy.ruleSet];
  const used = referenced(policy);
  for (const name of Object.keys(parsed.rules)) {
    if (known[name] === undefined && !used.has(name)) {
      findings.push(
        `warning: rule ${name} is not a rule glance-edge enforces, and no rule refers to it (a typo?)`,
      );
    }
  }
  for (const cycle of ruleCycles(policy.rules))
    findings.push(`error: rules refer to each other in a cycle: ${cycle.join(" → ")}`);
  io.out(
    findings.length === 0
      ? `ok: ${Object.keys(parsed.rules).length} override(s), no problems`
      : findings.join("\n"),
  );
  return findings.some((f) => f.startsWith("error")) ? 1 : 0;
}

function check(
  rule: string | undefined,
  defaults: string | undefined,
  overrides: string,
  o: ReturnType<typeof options>,
  io: CliIo,
): number {
  if (!rule) {
    io.out(`check needs a rule name\n${USAGE}`);
    return 2;
  }
  const policy = load(defaults, overrides, io);
  if (!policy) return 1;
  const project = o.one("project") ?? null;
  const roles = (o.one("roles") ?? "")
    .split(",")
    .map((r) => r.trim().toLowerCase())
    .filter(Boolean);
  const creds: Credentials = {
    roles,
    project_id: project,
    user_id: o.one("user") ?? null,
    project_domain_id: o.one("project-domain") ?? null,
    user_domain_id: o.one("user-domain") ?? null,
    is_admin: false,
  };
  creds.is_admin = explainRule(policy, "context_is_admin", creds, {}).allowed;
  const properties = Object.fromEntries((o.flags.get("property") ?? []).map((p) => p.split(/=(.*)/s, 2)));
  const given = JSON.parse(o.one("image") ?? "{}") as Partial<TargetImage>;
  const image: TargetImage = {
    id: "00000000-0000-4000-8000-000000000000",
    owner: o.one("owner") ?? project,
    visibility: o.one("visibility") ?? "shared",
    name: null,
    disk_format: null,
    container_format: null,
    size: null,
    virtual_size: null,
    status: "active",
    checksum: null,
    os_hash_algo: null,
    os_hash_value: null,
    protected: 0,
    os_hidden: 0,
    min_ram: 0,
    min_disk: 0,
    ...given,
    properties: JSON.stringify({ ...JSON.parse(given.properties ?? "{}"), ...properties }),
  };
  const target = imageTarget(image, project ?? "", o.one("member") === "true");
  const verdict = explainRule(policy, rule, creds, target);
  const text =
    policy.text[rule] ??
    (policy.fixed.has(rule) ? formatCheck(policy.fixed.get(rule) ?? { kind: "false" }) : undefined);
  io.out(
    [
      `${verdict.allowed ? "ALLOWED" : "DENIED"}: ${rule}`,
      `  rule:       ${text === undefined ? "(not defined: the default rule applies)" : JSON.stringify(text)}`,
      `  decided by: ${verdict.decidedBy}`,
      `  caller:     project=${project ?? "-"} roles=${roles.join(",") || "-"} is_admin=${creds.is_admin}`,
      `  image:      owner=${image.owner ?? "None"} visibility=${image.visibility}${target.member_id ? ` member_id=${String(target.member_id)}` : ""}`,
    ].join("\n"),
  );
  return verdict.allowed ? 0 : 1;
}
