/**
 * oslo.policy's check semantics (oslo_policy/_checks.py `__call__` methods, with `Rules` and the
 * rule-graph lint of oslo_policy/policy.py), for a parsed `Check`.
 *
 * Where oslo.policy raises instead of answering (a bad `%` format, a credential path through a
 * non-dict, a rule that recurses into itself), the exception aborts the whole enforcement there;
 * here the whole decision is a deny instead. It is not just that one check being false: a
 * surrounding `not` cannot turn the error into an allow.
 */
import type { Check, Credentials, Rules, Target } from "./check";
import { formatCheck } from "./parse";

export interface EvaluateOptions {
  /**
   * oslo.policy's `Rules.default_rule` (`[oslo_policy] policy_default_rule`, "default" in a real
   * Enforcer): `rule:NAME` for an undefined NAME evaluates this rule instead, if it is defined.
   * Unset (the default here): an undefined rule is false.
   */
  defaultRule?: string;
}

export interface Explanation {
  allowed: boolean;
  /**
   * The part of the check that decided, printed like `formatCheck`: for a passing `or` the
   * decider of its first passing branch, for a failing `and` that of its first failing branch; a
   * passing `and` / failing `or` needed every operand, so it is the `and` / `or` of the operands'
   * deciders (`or` branches that did not matter pruned: `(role:reader and 'public':%(visibility)s)`).
   * Through a rule: `rule:NAME → <decider inside NAME>` (`rule:NAME (undefined; default rule "D")
   * → …` via the default rule), parenthesised inside `and`/`or`/`not`. `not X` is
   * `not <decider of X>`. Notes in parentheses say why a leaf failed when it is not obvious:
   * `(undefined rule)`, `(no "key" in target)`, a parse failure's reason, or `(error: …)` where
   * oslo.policy would have raised (the whole decision is then a deny).
   */
  decidedBy: string;
}

/** `evaluate` (`_checks._check`): does `check` allow `creds` to act on `target`? */
export function evaluate(
  check: Check,
  target: Target,
  creds: Credentials,
  rules: Rules,
  options: EvaluateOptions = {},
): boolean {
  try {
    return run(check, { target, creds, rules, defaultRule: options.defaultRule, active: [] }).ok;
  } catch {
    return false; // oslo.policy would raise (see Abort): deny
  }
}

/** `evaluate`, plus which sub-check decided (see `Explanation.decidedBy`). */
export function explain(
  check: Check,
  target: Target,
  creds: Credentials,
  rules: Rules,
  options: EvaluateOptions = {},
): Explanation {
  try {
    const v = run(check, { target, creds, rules, defaultRule: options.defaultRule, active: [] });
    return { allowed: v.ok, decidedBy: formatWhy(v.why) };
  } catch (e) {
    if (e instanceof Abort) return { allowed: false, decidedBy: `${formatWhy(e.why)} (error: ${e.message})` };
    return { allowed: false, decidedBy: `${formatCheck(check)} (error: ${String(e)})` };
  }
}

/**
 * The rule cycles of a policy (oslo.policy's `Enforcer._cycle_check` finds that one exists):
 * every elementary cycle once, as rule names in reference order starting at the one defined
 * first (`a: rule:b`, `b: rule:a` → `[["a", "b"]]`; `a: rule:a` → `[["a"]]`). References under
 * `not` count too (oslo.policy's check skips them, but evaluating one still recurses forever).
 * With `defaultRule`, a reference to an undefined rule is an edge to the default rule, as at
 * evaluation. Stops after 1000 cycles.
 */
export function ruleCycles(rules: Rules, options: EvaluateOptions = {}): string[][] {
  const names = [...rules.keys()];
  const index = new Map(names.map((n, i) => [n, i]));
  const { defaultRule } = options;
  const viaDefault = defaultRule !== undefined && rules.has(defaultRule) ? defaultRule : undefined;
  const adj = names.map((name) => {
    const out = new Set<number>();
    for (const ref of ruleRefs(rules.get(name) as Check)) {
      const to = index.get(ref) ?? (viaDefault === undefined ? undefined : index.get(viaDefault));
      if (to !== undefined) out.add(to);
    }
    return [...out];
  });
  const scc = stronglyConnected(adj);
  const cycles: string[][] = [];
  const path: number[] = [];
  const onPath = new Set<number>();
  // For each start s, the simple paths back to s through later nodes of s's component: each
  // elementary cycle is found once, from its earliest-defined rule.
  const walk = (s: number, v: number): void => {
    for (const w of adj[v] ?? []) {
      if (cycles.length >= 1000) return;
      if (w === s) cycles.push(path.map((i) => names[i] as string));
      else if (w > s && scc[w] === scc[s] && !onPath.has(w)) {
        path.push(w);
        onPath.add(w);
        walk(s, w);
        onPath.delete(w);
        path.pop();
      }
    }
  };
  for (let s = 0; s < names.length; s++) {
    path.push(s);
    onPath.add(s);
    walk(s, s);
    onPath.delete(s);
    path.pop();
  }
  return cycles;
}

/**
 * `rule:NAME` references to rules the policy does not define (oslo.policy's
 * `Enforcer._undefined_check`, which also ignores the default rule), one per rule and missing
 * name, in definition and text order. Unlike oslo.policy this also looks under `not`.
 */
export function undefinedRuleRefs(rules: Rules): { rule: string; missing: string }[] {
  const out: { rule: string; missing: string }[] = [];
  for (const [rule, check] of rules) {
    const seen = new Set<string>();
    for (const missing of ruleRefs(check)) {
      if (!rules.has(missing) && !seen.has(missing)) {
        seen.add(missing);
        out.push({ rule, missing });
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Evaluation

interface Env {
  target: Target;
  creds: Credentials;
  rules: Rules;
  defaultRule: string | undefined;
  /** Rules being evaluated, outermost first: re-entering one is infinite recursion in Python. */
  active: string[];
}

/** What decided a verdict; formatted only by `explain`. */
type Why =
  | { leaf: Check; note?: string }
  | { not: Why }
  | { all: "and" | "or"; parts: Why[] }
  | { rule: string; viaDefault?: string; inner: Why };

interface Verdict {
  ok: boolean;
  why: Why;
}

/** Where oslo.policy raises (ValueError, TypeError, RecursionError, ...): the decision is a deny. */
class Abort extends Error {
  constructor(
    readonly why: Why,
    message: string,
  ) {
    super(message);
  }
}

/** A Python exception other than KeyError inside one check. */
export class PyError extends Error {}

function run(c: Check, env: Env): Verdict {
  switch (c.kind) {
    case "true":
      return { ok: true, why: { leaf: c } };
    case "false":
      return { ok: false, why: c.reason === undefined ? { leaf: c } : { leaf: c, note: c.reason } };
    case "not": {
      // NotCheck: `not _check(...)`; an exception passes through.
      const v = run(c.check, env);
      return { ok: !v.ok, why: { not: v.why } };
    }
    case "and": {
      // AndCheck: the first false operand decides, later ones are not evaluated.
      const parts: Why[] = [];
      for (const sub of c.checks) {
        const v = run(sub, env);
        if (!v.ok) return v;
        parts.push(v.why);
      }
      return { ok: true, why: { all: "and", parts } };
    }
    case "or": {
      const parts: Why[] = [];
      for (const sub of c.checks) {
        const v = run(sub, env);
        if (v.ok) return v;
        parts.push(v.why);
      }
      return { ok: false, why: { all: "or", parts } };
    }
    case "rule":
      return runRule(c, env);
    case "role":
    case "generic":
      try {
        return c.kind === "role" ? roleCheck(c, env) : genericCheck(c, env);
      } catch (e) {
        if (e instanceof PyError) throw new Abort({ leaf: c }, e.message);
        throw e;
      }
  }
}

/** RuleCheck: `enforcer.rules[self.match]`, where `Rules.__missing__` falls back to the default rule. */
function runRule(c: Extract<Check, { kind: "rule" }>, env: Env): Verdict {
  let name = c.name;
  let viaDefault: string | undefined;
  let check = env.rules.get(name);
  if (check === undefined) {
    // KeyError (no default rule, or the default rule is not defined either): fail closed.
    const d = env.defaultRule;
    check = d ? env.rules.get(d) : undefined;
    if (d === undefined || check === undefined)
      return { ok: false, why: { leaf: c, note: "undefined rule" } };
    viaDefault = d;
    name = d;
  }
  const at = env.active.indexOf(name);
  if (at >= 0) {
    // Evaluation is deterministic, so re-entering a rule recurses until Python's RecursionError.
    throw new Abort({ leaf: c }, `rule cycle ${[...env.active.slice(at), name].join(" → ")}`);
  }
  env.active.push(name);
  try {
    const v = run(check, env);
    return { ok: v.ok, why: { rule: c.name, viaDefault, inner: v.why } };
  } catch (e) {
    if (e instanceof Abort) throw new Abort({ rule: c.name, viaDefault, inner: e.why }, e.message);
    throw e;
  } finally {
    env.active.pop();
  }
}

/** RoleCheck: the %-formatted match, case-insensitively among `creds['roles']`. */
function roleCheck(c: Extract<Check, { kind: "role" }>, env: Env): Verdict {
  const match = pyFormat(c.match, env.target);
  if (typeof match !== "string")
    return { ok: false, why: { leaf: c, note: `no "${match.missing}" in target` } };
  if (!Object.hasOwn(env.creds, "roles")) return { ok: false, why: { leaf: c } };
  const roles: unknown = env.creds.roles;
  // `[x.lower() for x in creds['roles']]`: a str iterates its characters; anything else raises.
  const items = typeof roles === "string" ? [...roles] : roles;
  if (!Array.isArray(items)) throw new PyError("creds['roles'] is not iterable");
  const want = match.toLowerCase();
  let ok = false;
  for (const role of items) {
    if (typeof role !== "string") throw new PyError("a role is not a str");
    if (role.toLowerCase() === want) ok = true;
  }
  return { ok, why: { leaf: c } };
}

/**
 * GenericCheck: the %-formatted match compared with str() of the left side, which is a Python
 * literal (`ast.literal_eval`) or else a dotted path into the credentials (`_find_in_dict`).
 */
function genericCheck(c: Extract<Check, { kind: "generic" }>, env: Env): Verdict {
  const match = pyFormat(c.match, env.target);
  if (typeof match !== "string")
    return { ok: false, why: { leaf: c, note: `no "${match.missing}" in target` } };
  const lit = literal(c.left);
  if (lit !== null) return { ok: match === litStr(lit), why: { leaf: c } };
  return { ok: findInDict(env.creds, c.left.split("."), 0, match), why: { leaf: c } };
}

/** `GenericCheck._find_in_dict`: a list matches if any element does; a missing key is false. */
function findInDict(value: unknown, path: string[], at: number, match: string): boolean {
  if (at === path.length) return match === pyStr(value);
  const key = path[at] as string;
  // `test_value[key]` on a str, list, number or None raises TypeError, not KeyError.
  if (!isDict(value)) throw new PyError(`cannot look up "${key}" in ${pyTypeName(value)}`);
  if (!Object.hasOwn(value, key) || value[key] === undefined) return false;
  const next = value[key];
  if (Array.isArray(next)) return next.some((v) => findInDict(v, path, at + 1, match));
  return findInDict(next, path, at + 1, match);
}

function formatWhy(why: Why): string {
  if ("leaf" in why)
    return why.note === undefined ? formatCheck(why.leaf) : `${formatCheck(why.leaf)} (${why.note})`;
  if ("not" in why) return `not ${nestedWhy(why.not)}`;
  if ("all" in why) return `(${why.parts.map(nestedWhy).join(` ${why.all} `)})`;
  const via = why.viaDefault === undefined ? "" : ` (undefined; default rule "${why.viaDefault}")`;
  return `rule:${why.rule}${via} → ${formatWhy(why.inner)}`;
}

/** An operand's decider: a rule chain or annotated leaf is parenthesised to read unambiguously. */
function nestedWhy(why: Why): string {
  const text = formatWhy(why);
  return "rule" in why || ("leaf" in why && why.note !== undefined) ? `(${text})` : text;
}

/** The `rule:NAME` references in a check, in text order, including under `not`. */
function ruleRefs(c: Check, out: string[] = []): string[] {
  if (c.kind === "rule") out.push(c.name);
  else if (c.kind === "not") ruleRefs(c.check, out);
  else if (c.kind === "and" || c.kind === "or") for (const sub of c.checks) ruleRefs(sub, out);
  return out;
}

/** Tarjan's strongly connected components: the component id of each node. */
function stronglyConnected(adj: number[][]): number[] {
  const n = adj.length;
  const index = new Array<number>(n).fill(-1);
  const low = new Array<number>(n).fill(0);
  const comp = new Array<number>(n).fill(-1);
  const stack: number[] = [];
  let counter = 0;
  let comps = 0;
  const visit = (v: number): void => {
    index[v] = low[v] = counter++;
    stack.push(v);
    for (const w of adj[v] ?? []) {
      if (index[w] === -1) {
        visit(w);
        low[v] = Math.min(low[v] as number, low[w] as number);
      } else if (comp[w] === -1) {
        low[v] = Math.min(low[v] as number, index[w] as number);
      }
    }
    if (low[v] === index[v]) {
      let w: number;
      do {
        w = stack.pop() as number;
        comp[w] = comps;
      } while (w !== v);
      comps++;
    }
  };
  for (let v = 0; v < n; v++) if (index[v] === -1) visit(v);
  return comp;
}

// ---------------------------------------------------------------------------------------------
// Python's %-formatting with a mapping (`self.match % target`)

/**
 * `fmt % target` as oslo.policy runs it, for the one form check strings use: `%(key)s` (and
 * `%%`). A missing key is Python's KeyError, which the checks turn into false: `{ missing }`.
 * Anything else throws (deny): what Python rejects (`%` at the end, `%(key` unclosed, `%(a)s %s`)
 * and, deliberately, what it would print that SQL cannot reproduce (`%(key)r`, widths, numeric
 * conversions, `%s` with the whole target), so that src/policy/sql.ts agrees on every string.
 */
function pyFormat(fmt: string, target: Target): string | { missing: string } {
  let out = "";
  for (const part of formatParts(fmt)) {
    if (typeof part === "string") out += part;
    else if ("error" in part) throw new PyError(part.error);
    else if (!Object.hasOwn(target, part.key) || target[part.key] === undefined) return { missing: part.key };
    else out += pyStr(target[part.key]);
  }
  return out;
}

export type FormatPart = string | { key: string } | { error: string };

/**
 * A match split into literal text and `%(key)s` references, in order; where Python would stop
 * with an error (or pyFormat denies), an `{ error }` part ends the list: a key missing before it
 * is still Python's KeyError (false), the error only counts when formatting reaches it.
 */
export function formatParts(fmt: string): FormatPart[] {
  const parts: FormatPart[] = [];
  let text = "";
  let i = 0;
  while (i < fmt.length) {
    const p = fmt.indexOf("%", i);
    if (p < 0) {
      text += fmt.slice(i);
      break;
    }
    text += fmt.slice(i, p);
    i = p + 1;
    if (i >= fmt.length) return [...parts, text, { error: "incomplete format" }];
    if (fmt[i] === "%") {
      text += "%";
      i++;
      continue;
    }
    if (fmt[i] !== "(") return [...parts, text, { error: "only %(key)s is supported" }];
    // The key runs to the matching parenthesis (Python counts nesting).
    let depth = 1;
    let j = i + 1;
    for (; j < fmt.length && depth > 0; j++) {
      if (fmt[j] === "(") depth++;
      else if (fmt[j] === ")") depth--;
    }
    if (depth > 0) return [...parts, text, { error: "incomplete format key" }];
    parts.push(text, { key: fmt.slice(i + 1, j - 1) });
    // Python looks the key up before it reads the conversion: a missing key wins.
    if (fmt[j] !== "s") return [...parts, { error: "only %(key)s is supported" }];
    text = "";
    i = j + 1;
  }
  parts.push(text);
  return parts;
}

/** str(ast.literal_eval(kind)), or null when `kind` is a credential path; throws to deny. */
export function literalText(kind: string): string | null {
  const lit = literal(kind);
  return lit === null ? null : litStr(lit);
}

function isDigit(ch: string | undefined): boolean {
  return ch !== undefined && ch >= "0" && ch <= "9";
}

// ---------------------------------------------------------------------------------------------
// Python's str() and repr() of JSON-like values

function isDict(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function pyTypeName(v: unknown): string {
  if (v === null || v === undefined) return "None";
  if (Array.isArray(v)) return "a list";
  return `a ${typeof v}`;
}

/**
 * str() as Python prints the value oslo.policy would hold: null → None, booleans → True/False,
 * safe integers as ints, other numbers as floats (`1.5`, `1e+16`, `inf`), arrays as lists and
 * objects as dicts (elements in repr()).
 */
export function pyStr(v: unknown): string {
  return typeof v === "string" ? v : pyRepr(v);
}

function pyRepr(v: unknown): string {
  switch (typeof v) {
    case "string":
      return reprStr(v);
    case "number":
      return Number.isSafeInteger(v) ? String(v) : floatRepr(v, true);
    case "bigint":
      return v.toString();
    case "boolean":
      return v ? "True" : "False";
    case "undefined":
      return "None";
    case "object":
      if (v === null) return "None";
      if (Array.isArray(v)) return `[${v.map(pyRepr).join(", ")}]`;
      return `{${Object.entries(v)
        .map(([k, x]) => `${reprStr(k)}: ${pyRepr(x)}`)
        .join(", ")}}`;
    default:
      return String(v);
  }
}

/** Characters `str.isprintable()` rejects (categories C*, Z* except the ASCII space). */
const NON_PRINTABLE = /^[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]$/u;

function hexEscape(cp: number): string {
  if (cp <= 0xff) return `\\x${cp.toString(16).padStart(2, "0")}`;
  if (cp <= 0xffff) return `\\u${cp.toString(16).padStart(4, "0")}`;
  return `\\U${cp.toString(16).padStart(8, "0")}`;
}

/** repr() of a str: single quotes unless only `'` occurs, escapes as `unicode_repr` writes them. */
function reprStr(s: string): string {
  const q = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = q;
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number;
    if (ch === q || ch === "\\") out += `\\${ch}`;
    else if (ch === "\t") out += "\\t";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (cp < 0x20 || cp === 0x7f) out += hexEscape(cp);
    else if (cp < 0x7f || !NON_PRINTABLE.test(ch)) out += ch;
    else out += hexEscape(cp);
  }
  return out + q;
}

/** ascii(): repr() with every non-ASCII character escaped. */

function bytesRepr(bytes: number[]): string {
  const q = bytes.includes(0x27) && !bytes.includes(0x22) ? '"' : "'";
  let out = `b${q}`;
  for (const b of bytes) {
    const ch = String.fromCharCode(b);
    if (ch === q || ch === "\\") out += `\\${ch}`;
    else if (b === 9) out += "\\t";
    else if (b === 10) out += "\\n";
    else if (b === 13) out += "\\r";
    else if (b < 0x20 || b >= 0x7f) out += hexEscape(b);
    else out += ch;
  }
  return out + q;
}

/**
 * `float.__repr__` (shortest round-trip digits, as JS also picks them): positional for decimal
 * exponents -4..15, else `1e+16` style; `addDot0` gives `1.0` (float) rather than `1` (in complex).
 */
function floatRepr(x: number, addDot0: boolean): string {
  if (Number.isNaN(x)) return "nan";
  if (x === Number.POSITIVE_INFINITY) return "inf";
  if (x === Number.NEGATIVE_INFINITY) return "-inf";
  const sign = x < 0 || Object.is(x, -0) ? "-" : "";
  if (x === 0) return `${sign}0${addDot0 ? ".0" : ""}`;
  const [mantissa = "", exponent = "0"] = Math.abs(x).toExponential().split("e");
  const digits = mantissa.replace(".", "");
  const exp = Number(exponent);
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  const intPart = exp >= 0 ? digits.slice(0, exp + 1).padEnd(exp + 1, "0") : "0";
  const frac = exp >= 0 ? digits.slice(exp + 1) : "0".repeat(-exp - 1) + digits;
  return `${sign}${intPart}${frac ? `.${frac}` : addDot0 ? ".0" : ""}`;
}

/** `complex.__repr__`: `2j` for a +0.0 real part, else `(1-2j)`. */
function complexRepr(re: number, im: number): string {
  const imag = floatRepr(im, false);
  if (re === 0 && !Object.is(re, -0)) return `${imag}j`;
  const signed = imag.startsWith("-") ? imag : `+${imag}`;
  return `(${floatRepr(re, false)}${signed}j)`;
}

// ---------------------------------------------------------------------------------------------
// `ast.literal_eval` of a GenericCheck's left side

type Lit =
  | { t: "str"; v: string }
  | { t: "bytes"; v: number[] }
  | { t: "int"; v: bigint }
  | { t: "float"; v: number }
  | { t: "complex"; re: number; im: number }
  | { t: "name"; v: "True" | "False" | "None" | "Ellipsis" }
  | { t: "tuple" | "list"; items: Lit[] }
  | { t: "empty"; v: "{}" | "set()" };

type Node =
  | { n: "const"; v: Lit }
  | { n: "tuple" | "list" | "set"; items: Node[] }
  | { n: "unary"; op: "+" | "-"; operand: Node }
  | { n: "binop"; op: "+" | "-"; left: Node; right: Node };

/** Not Python syntax, or Python syntax that `literal_eval` rejects with ValueError: a path. */
class NotLiteral extends Error {}

const literalCache = new Map<string, Lit | null | PyError>();

/**
 * `ast.literal_eval(kind)`: the value, or null where Python raises ValueError (GenericCheck then
 * walks the credentials); throws where Python raises anything else, SyntaxError mostly (`$x`,
 * `1abc`, `'open`, `%(x)s`), which makes oslo.policy raise. Literals: str/bytes (any prefix,
 * escapes, implicit concatenation), ints, floats, imaginary and `1+2j` complex, unary +/-,
 * True/False/None, `...`, tuples, lists, `{}` and `set()`. Deliberate deviations, all throwing
 * (deny): `\N{name}` escapes, non-empty set displays (Python does not fix their str() order),
 * and valid but exotic non-literal expressions `isPythonExpression` does not confirm.
 */
function literal(kind: string): Lit | null {
  let hit = literalCache.get(kind);
  if (hit === undefined) {
    try {
      hit = parseLiteral(kind);
    } catch (e) {
      if (!(e instanceof NotLiteral || e instanceof PyError)) throw e;
      if (e instanceof PyError) hit = e;
      else hit = isPythonExpression(kind) ? null : new PyError(`"${kind}" is not a Python expression`);
    }
    if (literalCache.size >= 1000) literalCache.clear();
    literalCache.set(kind, hit);
  }
  if (hit instanceof PyError) throw hit;
  return hit;
}

function litStr(l: Lit): string {
  return l.t === "str" ? l.v : litRepr(l);
}

function litRepr(l: Lit): string {
  switch (l.t) {
    case "str":
      return reprStr(l.v);
    case "bytes":
      return bytesRepr(l.v);
    case "int":
      return l.v.toString();
    case "float":
      return floatRepr(l.v, true);
    case "complex":
      return complexRepr(l.re, l.im);
    case "name":
    case "empty":
      return l.v;
    case "tuple":
      return `(${l.items.map(litRepr).join(", ")}${l.items.length === 1 ? "," : ""})`;
    case "list":
      return `[${l.items.map(litRepr).join(", ")}]`;
  }
}

const STRING_START = /(?:[rRuUbBfF]|[bB][rR]|[rR][bB]|[fF][rR]|[rR][fF])?['"]/y;
const NUMBER =
  /0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|(?:(?:[0-9](?:_?[0-9])*)?\.[0-9](?:_?[0-9])*|[0-9](?:_?[0-9])*\.?)(?:[eE][+-]?[0-9](?:_?[0-9])*)?[jJ]?/y;
const DEC_INTEGER = /^(?:[1-9](?:_?[0-9])*|0+(?:_?0)*)$/;
const NAME = /[\p{ID_Start}_]\p{ID_Continue}*/uy;
const ID_CONTINUE = /\p{ID_Continue}/u;

function parseLiteral(s: string): Lit {
  let i = 0;
  const fail = (): never => {
    throw new NotLiteral();
  };
  const list = (close: string | undefined): { items: Node[]; comma: boolean } => {
    const items: Node[] = [];
    let comma = false;
    while (i < s.length && s[i] !== close) {
      items.push(sum());
      if (s[i] !== ",") break;
      i++;
      comma = true;
    }
    return { items, comma };
  };
  const expect = (ch: string): void => {
    if (s[i] !== ch) fail();
    i++;
  };
  const sum = (): Node => {
    let left = unary();
    for (let op = s[i]; op === "+" || op === "-"; op = s[i]) {
      i++;
      left = { n: "binop", op, left, right: unary() };
    }
    return left;
  };
  const unary = (): Node => {
    const op = s[i];
    if (op === "+" || op === "-") {
      i++;
      return { n: "unary", op, operand: unary() };
    }
    return atom();
  };
  const atom = (): Node => {
    const ch = s[i];
    if (ch === "(" || ch === "[" || ch === "{") {
      i++;
      const close = ch === "(" ? ")" : ch === "[" ? "]" : "}";
      const { items, comma } = list(close);
      expect(close);
      if (ch === "(") return items.length === 1 && !comma ? (items[0] as Node) : { n: "tuple", items };
      if (ch === "[") return { n: "list", items };
      return items.length === 0 ? { n: "const", v: { t: "empty", v: "{}" } } : { n: "set", items };
    }
    STRING_START.lastIndex = i;
    if (STRING_START.test(s)) return { n: "const", v: strings() };
    if (isDigit(ch) || (ch === "." && isDigit(s[i + 1]))) return { n: "const", v: number() };
    if (s.startsWith("...", i)) {
      i += 3;
      return { n: "const", v: { t: "name", v: "Ellipsis" } };
    }
    NAME.lastIndex = i;
    const name = NAME.exec(s)?.[0];
    if (name === "True" || name === "False" || name === "None") {
      i += name.length;
      return { n: "const", v: { t: "name", v: name } };
    }
    if (name === "set" && s.startsWith("set()", i)) {
      i += 5;
      return { n: "const", v: { t: "empty", v: "set()" } };
    }
    return fail(); // another name, an operator Python has but literal_eval refuses, or junk
  };
  const number = (): Lit => {
    NUMBER.lastIndex = i;
    const text = NUMBER.exec(s)?.[0] ?? fail();
    i += text.length;
    if (i < s.length && ID_CONTINUE.test(s[i] as string)) fail(); // "invalid decimal literal"
    const digits = text.replace(/_/g, "");
    if (/^0[xXoObB]/.test(digits)) return { t: "int", v: BigInt(digits) };
    if (/[jJ]$/.test(digits)) return { t: "complex", re: 0, im: Number(digits.slice(0, -1)) };
    if (/[.eE]/.test(digits)) return { t: "float", v: Number(digits) };
    if (!DEC_INTEGER.test(text)) fail(); // leading zeros
    return { t: "int", v: BigInt(digits) };
  };
  const strings = (): Lit => {
    let text = "";
    let bytes: number[] | undefined;
    let plain = false;
    let joined = false;
    for (;;) {
      STRING_START.lastIndex = i;
      const start = STRING_START.exec(s)?.[0];
      if (start === undefined) break;
      const prefix = start.slice(0, -1).toLowerCase();
      const q = start.slice(-1);
      const quote = s.startsWith(q.repeat(3), i + prefix.length) ? q.repeat(3) : q;
      let j = i + prefix.length + quote.length;
      const bodyStart = j;
      // A backslash always takes the next character along, even in a raw string.
      while (!s.startsWith(quote, j)) {
        if (j >= s.length) fail(); // unterminated
        j += s[j] === "\\" ? 2 : 1;
      }
      const body = s.slice(bodyStart, j);
      i = j + quote.length;
      const raw = prefix.includes("r");
      if (prefix.includes("f")) joined = true;
      if (prefix.includes("b")) {
        if (plain) fail(); // cannot mix bytes and nonbytes literals
        bytes ??= [];
        for (const cp of decodeEscapes(body, raw, true)) bytes.push(cp);
      } else {
        if (bytes) fail();
        plain = true;
        text += String.fromCodePoint(...decodeEscapes(body, raw, false));
      }
    }
    if (joined) fail(); // an f-string is a JoinedStr: ValueError
    return bytes ? { t: "bytes", v: bytes } : { t: "str", v: text };
  };

  const top = list(undefined);
  if (i !== s.length || top.items.length === 0) fail();
  const node: Node = top.comma ? { n: "tuple", items: top.items } : (top.items[0] as Node);
  return convert(node);
}

/** The code points of a string literal's body (bytes: byte values), per Python's escapes. */
function decodeEscapes(body: string, raw: boolean, bytes: boolean): number[] {
  const out: number[] = [];
  const fail = (): never => {
    throw new NotLiteral();
  };
  for (let i = 0; i < body.length; ) {
    const cp = body.codePointAt(i) as number;
    if (bytes && cp >= 0x80) fail(); // bytes can only contain ASCII literal characters
    if (cp !== 0x5c || raw) {
      out.push(cp);
      i += cp > 0xffff ? 2 : 1;
      continue;
    }
    const e = body[i + 1] as string;
    i += 2;
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      out.push(simple);
    } else if (e >= "0" && e <= "7") {
      let j = i;
      while (j < body.length && j < i + 2 && (body[j] as string) >= "0" && (body[j] as string) <= "7") j++;
      const v = Number.parseInt(body.slice(i - 1, j), 8);
      out.push(bytes ? v & 0xff : v);
      i = j;
    } else if (e === "x" || (!bytes && (e === "u" || e === "U"))) {
      const n = e === "x" ? 2 : e === "u" ? 4 : 8;
      const hex = body.slice(i, i + n);
      if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) fail(); // truncated escape
      const v = Number.parseInt(hex, 16);
      if (v > 0x10ffff) fail();
      out.push(v);
      i += n;
    } else if (!bytes && e === "N") {
      throw new PyError("\\N{...} escapes are not supported");
    } else {
      // An unknown escape is kept as written (a warning in Python, not an error).
      const ecp = body.codePointAt(i - 1) as number;
      if (bytes && ecp >= 0x80) fail();
      out.push(0x5c, ecp);
      if (ecp > 0xffff) i++;
    }
  }
  return out;
}

const SIMPLE_ESCAPES: Record<string, number> = {
  "\\": 0x5c,
  "'": 0x27,
  '"': 0x22,
  a: 7,
  b: 8,
  f: 12,
  n: 10,
  r: 13,
  t: 9,
  v: 11,
};

/** `ast.literal_eval`'s `_convert`: which parsed expressions are literals, and their values. */
function convert(node: Node): Lit {
  switch (node.n) {
    case "const":
      return node.v;
    case "tuple":
    case "list":
      return { t: node.n, items: node.items.map(convert) };
    case "set":
      node.items.forEach(convert);
      throw new PyError("set literals are not supported (Python does not fix their order)");
    case "binop": {
      // Only `<int or float> ± <imaginary constant>`.
      const left = signedNum(node.left);
      const right = num(node.right);
      if ((left.t === "int" || left.t === "float") && right.t === "complex") {
        const l = left.t === "int" ? Number(left.v) : left.v;
        if (!Number.isFinite(l) && left.t === "int") throw new PyError("int too large to convert to float");
        return node.op === "+"
          ? { t: "complex", re: l + right.re, im: 0 + right.im }
          : { t: "complex", re: l - right.re, im: 0 - right.im };
      }
      throw new NotLiteral();
    }
    case "unary":
      return signedNum(node);
  }
}

type Num = Extract<Lit, { t: "int" | "float" | "complex" }>;

function num(node: Node): Num {
  if (node.n === "const" && (node.v.t === "int" || node.v.t === "float" || node.v.t === "complex"))
    return node.v;
  throw new NotLiteral();
}

function signedNum(node: Node): Num {
  if (node.n !== "unary") return num(node);
  const v = num(node.operand);
  if (node.op === "+") return v;
  if (v.t === "int") return { t: "int", v: -v.v };
  if (v.t === "float") return { t: "float", v: -v.v };
  return { t: "complex", re: -v.re, im: -v.im };
}

// ---------------------------------------------------------------------------------------------
// Is a non-literal kind valid Python (ValueError: a credential path) or a SyntaxError (raise)?

type PyToken =
  | { t: "name"; v: string }
  | { t: "num" }
  | { t: "str"; bytes: boolean }
  | { t: "op"; v: string };

const OPERATORS = [
  "**=",
  "//=",
  ">>=",
  "<<=",
  "...",
  "!=",
  "==",
  "<=",
  ">=",
  "**",
  "//",
  "<<",
  ">>",
  "->",
  ":=",
  "+=",
  "-=",
  "*=",
  "/=",
  "%=",
  "&=",
  "|=",
  "^=",
  "@=",
  "(",
  ")",
  "[",
  "]",
  "{",
  "}",
  ",",
  ":",
  ".",
  ";",
  "@",
  "=",
  "+",
  "-",
  "*",
  "/",
  "%",
  "&",
  "|",
  "^",
  "~",
  "<",
  ">",
];

const KEYWORDS = new Set(
  (
    "False None True and as assert async await break class continue def del elif else except " +
    "finally for from global if import in is lambda nonlocal not or pass raise return try while " +
    "with yield"
  ).split(" "),
);

/** Python's tokenizer over a whitespace-free string; throws NotLiteral where it would fail. */
function pyTokens(s: string): PyToken[] {
  const out: PyToken[] = [];
  const fail = (): never => {
    throw new NotLiteral();
  };
  for (let i = 0; i < s.length; ) {
    const ch = s[i];
    STRING_START.lastIndex = i;
    const start = STRING_START.exec(s)?.[0];
    if (start !== undefined) {
      const prefix = start.slice(0, -1).toLowerCase();
      const q = start.slice(-1);
      const quote = s.startsWith(q.repeat(3), i + prefix.length) ? q.repeat(3) : q;
      let j = i + prefix.length + quote.length;
      const bodyStart = j;
      while (!s.startsWith(quote, j)) {
        if (j >= s.length) fail();
        j += s[j] === "\\" ? 2 : 1;
      }
      const body = s.slice(bodyStart, j);
      // f-string replacement fields are expressions of their own: not checked, so not confirmed.
      if (prefix.includes("f") && /[{}]/.test(body)) fail();
      decodeEscapes(body, prefix.includes("r"), prefix.includes("b"));
      out.push({ t: "str", bytes: prefix.includes("b") });
      i = j + quote.length;
    } else if (isDigit(ch) || (ch === "." && isDigit(s[i + 1]))) {
      NUMBER.lastIndex = i;
      const text = NUMBER.exec(s)?.[0] ?? fail();
      i += text.length;
      if (i < s.length && ID_CONTINUE.test(s[i] as string)) fail();
      if (/^[0-9_]+$/.test(text) && !DEC_INTEGER.test(text)) fail();
      out.push({ t: "num" });
    } else {
      NAME.lastIndex = i;
      const name = NAME.exec(s)?.[0];
      if (name !== undefined) {
        out.push({ t: "name", v: name });
        i += name.length;
        continue;
      }
      const op = OPERATORS.find((o) => s.startsWith(o, i)) ?? fail();
      out.push({ t: "op", v: op });
      i += op.length;
    }
  }
  return out;
}

/**
 * Whether `ast.parse(s, mode='eval')` succeeds, for the whitespace- and colon-free text a check
 * kind can be. Conservative: comprehensions, `yield` and f-string fields are not confirmed (the
 * caller then denies, as for a SyntaxError).
 */
function isPythonExpression(s: string): boolean {
  let toks: PyToken[];
  try {
    toks = pyTokens(s);
  } catch {
    return false;
  }
  let p = 0;
  const fail = (): never => {
    throw new NotLiteral();
  };
  const isOp = (v: string, k = 0): boolean => {
    const t = toks[p + k];
    return t?.t === "op" && t.v === v;
  };
  const isKw = (v: string, k = 0): boolean => {
    const t = toks[p + k];
    return t?.t === "name" && t.v === v;
  };
  const eat = (v: string): void => {
    if (!isOp(v)) fail();
    p++;
  };
  const expression = (): void => {
    disjunction();
    if (isKw("if")) {
      p++;
      disjunction();
      if (!isKw("else")) fail();
      p++;
      expression();
    }
  };
  const disjunction = (): void => {
    conjunction();
    while (isKw("or")) {
      p++;
      conjunction();
    }
  };
  const conjunction = (): void => {
    inversion();
    while (isKw("and")) {
      p++;
      inversion();
    }
  };
  const inversion = (): void => {
    if (isKw("not")) {
      p++;
      inversion();
    } else comparison();
  };
  const comparison = (): void => {
    binary(0);
    for (;;) {
      const t = toks[p];
      if (t?.t === "op" && ["==", "!=", "<", ">", "<=", ">="].includes(t.v)) p++;
      else if (isKw("in")) p++;
      else if (isKw("not") && isKw("in", 1)) p += 2;
      else if (isKw("is")) p += isKw("not", 1) ? 2 : 1;
      else return;
      binary(0);
    }
  };
  const LEVELS = [["|"], ["^"], ["&"], ["<<", ">>"], ["+", "-"], ["*", "/", "//", "%", "@"]];
  const binary = (level: number): void => {
    const ops = LEVELS[level];
    if (ops === undefined) {
      factor();
      return;
    }
    binary(level + 1);
    for (let t = toks[p]; t?.t === "op" && ops.includes(t.v); t = toks[p]) {
      p++;
      binary(level + 1);
    }
  };
  const factor = (): void => {
    if (isOp("+") || isOp("-") || isOp("~")) {
      p++;
      factor();
      return;
    }
    if (isKw("await")) p++;
    primary();
    if (isOp("**")) {
      p++;
      factor();
    }
  };
  const primary = (): void => {
    atom();
    for (;;) {
      if (isOp(".")) {
        p++;
        const t = toks[p];
        if (t?.t !== "name" || KEYWORDS.has(t.v)) fail();
        p++;
      } else if (isOp("(")) {
        p++;
        callArguments();
        eat(")");
      } else if (isOp("[")) {
        p++;
        if (isOp("]")) fail();
        items("]");
        eat("]");
      } else return;
    }
  };
  // Starred or plain expressions up to `close`, comma-separated.
  const items = (close: string): { star: boolean; comma: boolean } => {
    let star = false;
    let comma = false;
    while (!isOp(close)) {
      if (isOp("*")) {
        p++;
        binary(0);
        star = true;
      } else expression();
      if (isKw("for") || isKw("async")) fail(); // comprehension: not confirmed
      if (!isOp(",")) break;
      p++;
      comma = true;
    }
    return { star, comma };
  };
  const callArguments = (): void => {
    // Positional (and *a) first, then keywords (k=v, *a, **k), then only k=v and **k.
    let phase = 0;
    while (!isOp(")")) {
      const t = toks[p];
      if (isOp("**")) {
        p++;
        expression();
        phase = 2;
      } else if (isOp("*")) {
        if (phase === 2) fail();
        p++;
        expression();
      } else if (t?.t === "name" && isOp("=", 1)) {
        if (KEYWORDS.has(t.v)) fail();
        p += 2;
        expression();
        phase = Math.max(phase, 1);
      } else {
        if (phase > 0) fail();
        expression();
        if (isKw("for") || isKw("async")) fail();
      }
      if (!isOp(",")) break;
      p++;
    }
  };
  const atom = (): void => {
    const t = toks[p] ?? fail();
    p++;
    if (t.t === "num") return;
    if (t.t === "str") {
      let bytes = t.bytes;
      for (let u = toks[p]; u?.t === "str"; u = toks[p]) {
        if (u.bytes !== bytes) fail(); // cannot mix bytes and nonbytes literals
        bytes = u.bytes;
        p++;
      }
      return;
    }
    if (t.t === "name") {
      if (KEYWORDS.has(t.v) && t.v !== "True" && t.v !== "False" && t.v !== "None") fail();
      return;
    }
    if (t.v === "...") return;
    if (t.v === "(") {
      const { star, comma } = items(")");
      if (star && !comma) fail(); // `(*a)`: a starred expression needs a tuple
      eat(")");
      return;
    }
    if (t.v === "[") {
      items("]");
      eat("]");
      return;
    }
    if (t.v === "{") {
      if (isOp("**")) {
        // Dict display: only `**mapping` entries can be written without a colon.
        while (!isOp("}")) {
          eat("**");
          binary(0);
          if (!isOp(",")) break;
          p++;
        }
      } else items("}");
      eat("}");
      return;
    }
    fail();
  };
  try {
    // Top level (`expressions`): no starred items.
    expression();
    while (isOp(",") && p + 1 < toks.length) {
      p++;
      expression();
    }
    if (isOp(",")) p++;
    return p === toks.length;
  } catch (e) {
    if (e instanceof NotLiteral || e instanceof PyError) return false;
    throw e;
  }
}
