/**
 * oslo.policy's check-string parser (oslo_policy/_parser.py), ported token for token: the
 * whitespace tokenizer (`_parse_tokenize`), the greedy shift-reduce `ParseState`, and
 * `_parse_check` for single checks. `formatCheck` is the `__str__` of oslo.policy's check classes
 * (oslo_policy/_checks.py), which its parser tests compare against.
 */
import type { Check } from "./check";

type AndCheck = Extract<Check, { kind: "and" }>;
type OrCheck = Extract<Check, { kind: "or" }>;

/** The tokens of `_parse_tokenize`; `and_expr`/`or_expr` exist only on the `ParseState` stack. */
export type Token =
  | { type: "check"; check: Check }
  | { type: "and_expr"; check: AndCheck }
  | { type: "or_expr"; check: OrCheck }
  | { type: "and"; text: string }
  | { type: "or"; text: string }
  | { type: "not"; text: string }
  | { type: "(" }
  | { type: ")" }
  | { type: "string"; value: string };

/**
 * Python's `re` `\s` on str (= `str.isspace()`), which `_tokenize_re` splits on. Not JS `\s`:
 * Python also counts U+001C..U+001F and U+0085, and not U+FEFF.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+001C..U+001F are whitespace to Python.
const PY_WHITESPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;

/** Check kinds served by stevedore plug-ins in oslo.policy (`HttpCheck`, `HttpsCheck`): not ported. */
const PLUGIN_KINDS = new Set(["http", "https"]);

/** `_parse_check`: one whitespace-free check (`!`, `@`, or `kind:match`). */
function parseOne(rule: string): Check {
  if (rule === "!") return { kind: "false" };
  if (rule === "@") return { kind: "true" };
  const colon = rule.indexOf(":");
  // `rule.split(':', 1)` fails to unpack: oslo.policy logs and fails closed.
  if (colon < 0) return { kind: "false", reason: `failed to understand rule "${rule}" (no ':')` };
  const kind = rule.slice(0, colon);
  const match = rule.slice(colon + 1);
  // Extensions are looked up before registered checks, so `http:`/`https:` never become generic.
  if (PLUGIN_KINDS.has(kind)) {
    return { kind: "false", reason: `plug-in check "${kind}:" (remote call) is not supported` };
  }
  if (kind === "rule") return { kind: "rule", name: match };
  if (kind === "role") return { kind: "role", match };
  // GenericCheck is registered for `None`, so every other kind is accepted.
  return { kind: "generic", left: kind, match };
}

/**
 * `_parse_tokenize`: split on whitespace; parentheses stuck to the start or end of a word are
 * their own tokens; `and`/`or`/`not` are keywords in any case; a word quoted at both ends (before
 * trailing parentheses are removed) is a string token, which no reduction accepts.
 */
export function tokenize(rule: string): Token[] {
  const out: Token[] = [];
  for (let tok of rule.split(PY_WHITESPACE)) {
    if (tok === "") continue;
    let clean = tok.replace(/^\(+/, "");
    for (let i = 0; i < tok.length - clean.length; i++) out.push({ type: "(" });
    if (clean === "") continue;
    tok = clean;
    clean = tok.replace(/\)+$/, "");
    const trail = tok.length - clean.length;
    const lowered = clean.toLowerCase();
    if (lowered === "and" || lowered === "or" || lowered === "not") {
      out.push({ type: lowered, text: clean });
    } else if (clean !== "") {
      const first = tok[0];
      if (tok.length >= 2 && (first === '"' || first === "'") && tok[tok.length - 1] === first) {
        out.push({ type: "string", value: tok.slice(1, -1) });
      } else {
        out.push({ type: "check", check: parseOne(clean) });
      }
    }
    for (let i = 0; i < trail; i++) out.push({ type: ")" });
  }
  return out;
}

/**
 * `ParseState.reduce`: after every shift, apply the first matching reduction on the top of the
 * stack (three-token patterns before the two-token `not` pattern) until none applies.
 */
function reduce(stack: Token[]): void {
  for (;;) {
    const n = stack.length;
    if (n >= 3) {
      const a = stack[n - 3] as Token;
      const b = stack[n - 2] as Token;
      const c = stack[n - 1] as Token;
      if (
        a.type === "(" &&
        c.type === ")" &&
        (b.type === "check" || b.type === "and_expr" || b.type === "or_expr")
      ) {
        stack.splice(n - 3, 3, { type: "check", check: b.check });
        continue;
      }
      if (b.type === "and" && c.type === "check") {
        if (a.type === "check") {
          stack.splice(n - 3, 3, { type: "and_expr", check: { kind: "and", checks: [a.check, c.check] } });
          continue;
        }
        if (a.type === "and_expr") {
          a.check.checks.push(c.check);
          stack.splice(n - 3, 3, { type: "and_expr", check: a.check });
          continue;
        }
        if (a.type === "or_expr") {
          // 'A or B and C': `and` binds tighter, so it takes the or's last operand.
          const last = a.check.checks.pop() as Check;
          if (last.kind === "and") last.checks.push(c.check);
          a.check.checks.push(last.kind === "and" ? last : { kind: "and", checks: [last, c.check] });
          stack.splice(n - 3, 3, { type: "or_expr", check: a.check });
          continue;
        }
      }
      if (b.type === "or" && c.type === "check") {
        if (a.type === "check" || a.type === "and_expr") {
          stack.splice(n - 3, 3, { type: "or_expr", check: { kind: "or", checks: [a.check, c.check] } });
          continue;
        }
        if (a.type === "or_expr") {
          a.check.checks.push(c.check);
          stack.splice(n - 3, 3, { type: "or_expr", check: a.check });
          continue;
        }
      }
    }
    if (n >= 2) {
      const a = stack[n - 2] as Token;
      const b = stack[n - 1] as Token;
      if (a.type === "not" && b.type === "check") {
        stack.splice(n - 2, 2, { type: "check", check: { kind: "not", check: b.check } });
        continue;
      }
    }
    return;
  }
}

/**
 * `_parse_text_rule`: a policy check string as a `Check` tree. `""` always passes; a string that
 * does not reduce to one check (including one of only whitespace) denies, as oslo.policy does
 * after logging "Failed to understand rule".
 */
export function parseCheck(text: string): Check {
  if (text === "") return { kind: "true" };
  const stack: Token[] = [];
  for (const token of tokenize(text)) {
    stack.push(token);
    reduce(stack);
  }
  const only = stack.length === 1 ? stack[0] : undefined;
  // `ParseState.result`: exactly one token, and it holds a check (not a string or keyword).
  if (only && (only.type === "check" || only.type === "and_expr" || only.type === "or_expr")) {
    return only.check;
  }
  return { kind: "false", reason: `failed to understand rule "${text}" (does not parse)` };
}

/** `str()` of oslo.policy's check objects: `@`, `!`, `not X`, `(A and B)`, `(A or B)`, `kind:match`. */
export function formatCheck(c: Check): string {
  switch (c.kind) {
    case "true":
      return "@";
    case "false":
      return "!";
    case "not":
      return `not ${formatCheck(c.check)}`;
    case "and":
      return `(${c.checks.map(formatCheck).join(" and ")})`;
    case "or":
      return `(${c.checks.map(formatCheck).join(" or ")})`;
    case "rule":
      return `rule:${c.name}`;
    case "role":
      return `role:${c.match}`;
    case "generic":
      return `${c.left}:${c.match}`;
  }
}
