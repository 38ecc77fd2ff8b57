// docs/reference.md §10's deliberate differences, as the replay observes them. A difference is accepted only
// when one of these entries explains it; each names the §10 item it stands for and checks the
// exact shape of that difference, so that anything else still fails the run.
import { isDeepStrictEqual } from "node:util";
import { cleanMessage, normalise, template } from "./compare.mjs";
import { isHybrid, PRIVATE_TWIN } from "./scenario.mjs";

/**
 * Aspect-level, §10.3 "Error messages carry no <br /><br /> residue; the plain-text form is not
 * HTML": the same words, where Glance wraps them in `<br /><br />` and blank lines (JSON form:
 * `…<br /><br />\n\n\n`, or `Access was denied to this resource.<br /><br />\nYou are not …` where
 * webob puts its default explanation first; plain form: the same with blanks) and glance-edge does
 * not; and Glance's webob HTML page (what it sends to `Accept: *\/*`, text/html) where glance-edge
 * sends text/plain. Only these aspects: the words themselves must still be the same.
 */
export const ASPECT_ALLOWS = [
  {
    id: "§10.2",
    item: "private images accept members like shared ones; Glance 25 allows shared only",
    // The hybrid fixtures are private on glance-edge and shared on Glance: the image's own
    // visibility is the one thing that must differ.
    match: (aspect, r) =>
      isHybrid(r.fixture) &&
      r.glance.status < 300 &&
      aspect === '$.visibility: glance "shared" / edge "private"',
  },
  {
    id: "§10.3",
    item: "Error messages carry no <br /><br /> residue; the plain-text form is not HTML",
    match: (aspect, r) =>
      r.glance.status >= 400 &&
      r.edge.status >= 400 &&
      ((aspect.startsWith("message residue:") &&
        !/<br/i.test(r.edge.rawMessage ?? "") &&
        cleanMessage(r.glance.rawMessage ?? "") === cleanMessage(r.edge.rawMessage ?? "")) ||
        (aspect === "content-type: glance text/html / edge text/plain" &&
          r.glance.message === r.edge.message)),
  },
];

const sameAnswer = (x, xImage, y, yImage) => {
  if (x.status !== y.status) return false;
  if (x.status >= 400 || y.status >= 400) {
    return (
      template(x.message, new Map([[xImage, "{image}"]])) ===
      template(y.message, new Map([[yImage, "{image}"]]))
    );
  }
  const ids = (v, img) =>
    JSON.parse(template(JSON.stringify(normalise(v ?? null)), new Map([[img, "{image}"]])));
  return isDeepStrictEqual(ids(x.json, xImage), ids(y.json, yImage));
};

/** Case-level: the whole remaining difference of a case is the deliberate one. */
export const CASE_ALLOWS = [
  {
    id: "§10.1",
    item: "POST …/members accepts member_id (preferred) as well as member; Glance reads only member",
    match: (r) => r.tags?.includes("member_id-key") && r.glance.status === 400 && r.edge.status === 200,
  },
  {
    id: "§10.2",
    item: "private images accept members like shared ones; Glance 25 allows shared only",
    // On a private image glance-edge answers what Glance answers on the same request to a shared
    // twin (same memberships: none), while Glance itself answers the private image differently.
    match: (r, results) => {
      if (r.fixture !== "private" || !r.op.startsWith("members.")) return false;
      const twin = results.get(`${r.op}|${r.caller}|${PRIVATE_TWIN}`);
      if (!twin) return false;
      return (
        sameAnswer(r.edge, r.image, twin.glance, twin.image) &&
        !sameAnswer(r.glance, r.image, twin.glance, twin.image)
      );
    },
  },
  {
    id: "§10.4",
    item: "member_id must be a string of 1–255 characters (Glance echoes numbers, 500 on arrays)",
    match: (r) =>
      r.tags?.includes("non-string-member") &&
      r.edge.status === 400 &&
      r.edge.message === "Invalid member id." &&
      (r.glance.status === 200 || r.glance.status === 500),
  },
  {
    id: "§10.6",
    item: "A bad client request id is replaced, not answered with 500",
    match: (r) => r.tags?.includes("bad-request-id") && r.glance.status === 500 && r.edge.status < 500,
  },
];
