/**
 * Which error format a client gets (docs/reference.md §2). Glance lets webob choose between the offers
 * text/html and application/json in that order; the client gets JSON only when JSON wins
 * outright. Where webob would answer HTML we answer text/plain instead (docs/reference.md §10.3).
 * python-glanceclient sends "* / *" and must get text, never the flat JSON form.
 */
const OFFERS = ["text/html", "application/json"] as const;

interface Range {
  type: string;
  subtype: string;
  q: number;
}

function parseAccept(header: string): Range[] {
  const ranges: Range[] = [];
  for (const part of header.split(",")) {
    const [media = "", ...params] = part.split(";").map((s) => s.trim().toLowerCase());
    const [type, subtype] = media.split("/");
    if (!type || !subtype) continue;
    let q = 1;
    for (const p of params) {
      const m = /^q=([0-9](?:\.[0-9]{0,3})?)$/.exec(p);
      if (m?.[1]) q = Math.min(1, Number(m[1]));
    }
    ranges.push({ type, subtype, q });
  }
  return ranges;
}

/** Quality of an offer: the q of the most specific range matching it (RFC 9110 §12.5.1). */
function quality(ranges: Range[], offer: string): number {
  const [type, subtype] = offer.split("/");
  let best = -1;
  let q = 0;
  for (const r of ranges) {
    const specificity =
      r.type === type && r.subtype === subtype
        ? 2
        : r.type === type && r.subtype === "*"
          ? 1
          : r.type === "*" && r.subtype === "*"
            ? 0
            : -1;
    if (specificity > best) {
      best = specificity;
      q = r.q;
    }
  }
  return best < 0 ? 0 : q;
}

export function prefersJson(accept: string | undefined): boolean {
  if (!accept) return false;
  const ranges = parseAccept(accept);
  const [html, json] = OFFERS.map((o) => quality(ranges, o)) as [number, number];
  // Ties go to the first offer (text/html), as in webob's acceptable_offers.
  return json > 0 && json > html;
}
