// Reading and comparing the two services' answers: status, Content-Type family, error message
// (from either error form, docs/reference.md §2, without Glance's `<br /><br />` residue, §10.3), success JSON
// with timestamps, request ids and checksums normalised, and lists as sets.
import { isDeepStrictEqual } from "node:util";

const TS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/** The message of an error, as the words people read: no HTML, no `<br />`, whitespace folded. */
export function cleanMessage(s) {
  return s
    .replace(/<br\s*\/?>/gi, " ")
    .replace(/<[^>]+>/g, " ")
    .replace(/&#x27;|&#39;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&")
    .replace(/\s+/g, " ")
    .trim();
}

/** What one service answered, read for comparison. */
export function readAnswer(res) {
  const rawType = res.headers["content-type"] ?? "";
  const type = rawType.split(";")[0].trim().toLowerCase();
  const text = res.body.toString("utf8");
  const a = { status: res.status, type: type || "(none)", rawType, length: res.body.length, ms: res.ms };
  if (res.body.length === 0) a.form = "empty";
  else if (type === "application/json") {
    try {
      a.json = JSON.parse(text);
      a.form = "json";
    } catch {
      a.form = "text";
      a.text = text;
    }
  } else if (type === "text/html") {
    a.form = "html";
    a.text = text;
  } else if (type.startsWith("text/")) {
    a.form = "text";
    a.text = text;
  } else {
    a.form = "binary";
    a.bytes = res.body;
  }
  if (res.status >= 400) {
    if (a.form === "json" && a.json && typeof a.json === "object" && typeof a.json.message === "string") {
      a.rawMessage = a.json.message;
      a.message = cleanMessage(a.json.message);
      a.errorKeys = Object.keys(a.json);
      a.code = a.json.code;
      a.title = a.json.title;
    } else if (a.form === "html") {
      // webob's HTML page: <h1>STATUS</h1> then the explanation.
      const m = /<\/h1>([\s\S]*?)<\/body>/i.exec(a.text);
      a.message = cleanMessage(m ? m[1] : a.text);
      const t = /<title>([^<]*)<\/title>/i.exec(a.text);
      a.code = t ? t[1].trim() : undefined;
    } else if (a.form === "text") {
      // `<status> <reason>\n\n<explanation>\n`
      const m = /^(\d{3} [^\n]*)\n\n([\s\S]*)$/.exec(a.text);
      a.code = m ? m[1].trim() : undefined;
      a.rawMessage = m ? m[2] : a.text;
      a.message = cleanMessage(m ? m[2] : a.text);
    } else {
      a.message = a.form === "empty" ? "(empty body)" : "(binary body)";
    }
  }
  return a;
}

/** One line for a report: status and a short body. */
export function shortAnswer(a, width = 160) {
  if (!a) return "(no answer)";
  let body;
  if (a.status >= 400) body = `'${a.message}'`;
  else if (a.form === "empty") body = "(empty)";
  else if (a.form === "binary") body = `(${a.type}, ${a.length} bytes)`;
  else if (a.form === "json") body = JSON.stringify(a.json);
  else body = JSON.stringify(a.text);
  if (body.length > width) body = `${body.slice(0, width - 1)}…`;
  return `${a.status} [${a.type}] ${body}`;
}

// ---- JSON normalisation -------------------------------------------------------------------------------
const CHECKSUM_KEYS = { checksum: /^[0-9a-f]{32}$/, os_hash_value: /^[0-9a-f]{128}$/ };

export function normalise(value, key) {
  if (Array.isArray(value)) return value.map((v) => normalise(v));
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = normalise(v, k);
    return out;
  }
  if (typeof value === "string") {
    if ((key === "created_at" || key === "updated_at" || key === "expires_at") && TS.test(value))
      return "<ts>";
    if (CHECKSUM_KEYS[key]?.test(value)) return `<${key}>`;
    if ((key === "first" || key === "next") && value.includes("?")) return sortQuery(value);
  }
  return value;
}

function sortQuery(link) {
  const [path, query] = link.split("?", 2);
  const params = [...new URLSearchParams(query)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${path}?${new URLSearchParams(params).toString()}`;
}

/** Paths where two JSON values differ, e.g. `$.stores: glance "file" / edge (missing)`. */
export function jsonDiff(g, e, path = "$", out = [], limit = 12) {
  if (out.length >= limit) return out;
  if (isDeepStrictEqual(g, e)) return out;
  const isObj = (v) => v && typeof v === "object" && !Array.isArray(v);
  if (isObj(g) && isObj(e)) {
    const keys = new Set([...Object.keys(g), ...Object.keys(e)]);
    for (const k of keys) {
      if (!(k in e)) out.push(`${path}.${k}: glance ${show(g[k])} / edge (missing)`);
      else if (!(k in g)) out.push(`${path}.${k}: glance (missing) / edge ${show(e[k])}`);
      else jsonDiff(g[k], e[k], `${path}.${k}`, out, limit);
      if (out.length >= limit) break;
    }
    return out;
  }
  if (Array.isArray(g) && Array.isArray(e) && g.length === e.length) {
    for (let i = 0; i < g.length && out.length < limit; i++)
      jsonDiff(g[i], e[i], `${path}[${i}]`, out, limit);
    return out;
  }
  out.push(`${path}: glance ${show(g)} / edge ${show(e)}`);
  return out;
}

function show(v) {
  const s = JSON.stringify(v);
  return s === undefined ? "undefined" : s.length > 120 ? `${s.slice(0, 119)}…` : s;
}

/** Key order of an object when both have the same keys in a different order (docs/reference.md §5, §8). */
function keyOrder(g, e, what) {
  if (!g || !e || typeof g !== "object" || typeof e !== "object" || Array.isArray(g)) return [];
  const gk = Object.keys(g);
  const ek = Object.keys(e);
  if (gk.length !== ek.length || !gk.every((k) => k in e)) return [];
  return gk.join() === ek.join() ? [] : [`${what} key order: glance ${gk.join(",")} / edge ${ek.join(",")}`];
}

/**
 * The differences between two answers to one request: a list of aspects (empty = same answer).
 * `kind` says how to read a success body: "image", "image-list", "member", "member-list", "data".
 */
export function compareAnswers(g, e, kind) {
  const aspects = [];
  if (g.status !== e.status) aspects.push(`status: glance ${g.status} / edge ${e.status}`);
  // Content-Type: only where there is a body on either side (Glance labels its empty 204s text/html),
  // and only when the statuses agree (else the status difference says it all).
  if (g.type !== e.type && g.status === e.status && (g.length > 0 || e.length > 0)) {
    aspects.push(`content-type: glance ${g.type} / edge ${e.type}`);
  }
  if (g.status >= 400 || e.status >= 400) {
    if (g.message !== e.message) aspects.push(`message: glance '${g.message}' / edge '${e.message}'`);
    else if (g.form === e.form && g.rawMessage !== e.rawMessage) {
      // Same words, different wrapping: Glance's `<br /><br />` and whitespace residue (§10.3).
      aspects.push(`message residue: glance ${show(g.rawMessage)} / edge ${show(e.rawMessage)}`);
    }
    // The JSON error form: exactly message, code, title (docs/reference.md §2).
    if (g.form === "json" && e.form === "json" && g.status === e.status) {
      if (g.code !== e.code) aspects.push(`error code: glance ${show(g.code)} / edge ${show(e.code)}`);
      if (g.title !== e.title) aspects.push(`error title: glance ${show(g.title)} / edge ${show(e.title)}`);
      if ((g.errorKeys ?? []).join() !== (e.errorKeys ?? []).join()) {
        aspects.push(`error keys: glance ${g.errorKeys?.join(",")} / edge ${e.errorKeys?.join(",")}`);
      }
    }
    return aspects;
  }
  // Both succeeded.
  if (g.form !== e.form) {
    aspects.push(`body: glance ${g.form} (${g.length} bytes) / edge ${e.form} (${e.length} bytes)`);
    return aspects;
  }
  if (g.form === "binary" || kind === "data") {
    if (g.length !== e.length || (g.bytes && e.bytes && !g.bytes.equals(e.bytes))) {
      aspects.push(`data: glance ${g.length} bytes / edge ${e.length} bytes, not equal`);
    }
    return aspects;
  }
  if (g.form === "text" && g.text !== e.text)
    aspects.push(`body: glance ${show(g.text)} / edge ${show(e.text)}`);
  if (g.form !== "json") return aspects;
  const gj = normalise(g.json);
  const ej = normalise(e.json);
  if (kind === "image-list" && Array.isArray(gj?.images) && Array.isArray(ej?.images)) {
    const gi = new Set(gj.images.map((i) => i.id));
    const ei = new Set(ej.images.map((i) => i.id));
    const missing = [...gi].filter((id) => !ei.has(id));
    const extra = [...ei].filter((id) => !gi.has(id));
    if (missing.length) aspects.push(`images only glance lists: ${missing.join(" ")}`);
    if (extra.length) aspects.push(`images only edge lists: ${extra.join(" ")}`);
    const { images: _g, ...gRest } = gj;
    const { images: _e, ...eRest } = ej;
    aspects.push(...jsonDiff(gRest, eRest));
    return aspects;
  }
  if (kind === "member-list" && Array.isArray(gj?.members) && Array.isArray(ej?.members)) {
    const byId = (l) => [...l].sort((x, y) => String(x.member_id).localeCompare(String(y.member_id)));
    const gm = byId(gj.members);
    const em = byId(ej.members);
    const gs = gm.map((m) => `${m.member_id}:${m.status}`).join(" ");
    const es = em.map((m) => `${m.member_id}:${m.status}`).join(" ");
    if (gs !== es) aspects.push(`members: glance [${gs}] / edge [${es}]`);
    else aspects.push(...jsonDiff({ ...gj, members: gm }, { ...ej, members: em }));
    if (gm[0] && em[0]) aspects.push(...keyOrder(g.json.members[0], e.json.members[0], "member"));
    return aspects;
  }
  aspects.push(...jsonDiff(gj, ej));
  if (aspects.length === 0 && (kind === "image" || kind === "member"))
    aspects.push(...keyOrder(g.json, e.json, kind));
  return aspects;
}

/** Ids and long values replaced by placeholders, so that one cause reads as one line. */
export function template(s, ids = new Map()) {
  return String(s).replace(UUID, (u) => ids.get(u.toLowerCase()) ?? "{id}");
}
