import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Params } from "../../src/db/sql";
import type { Credentials } from "../../src/policy/check";
import { RULE_SETS } from "../../src/policy/defaults";
import { evaluate } from "../../src/policy/evaluate";
import { imageTarget, type TargetImage } from "../../src/policy/image-target";
import { parseCheck } from "../../src/policy/parse";
import { loadPolicy } from "../../src/policy/policy";
import { reduce, sqlText } from "../../src/policy/sql";

/**
 * docs/reference.md §11 "Atomic": a rule guards a write as SQL (src/policy/sql.ts) and explains a refusal as
 * an evaluation of the row read (src/policy/evaluate.ts). They must agree on every row: here
 * both run over generated check strings, images, memberships (live or expired) and credentials,
 * the SQL against the real migrated D1.
 */
const PROJECTS = ["p1", "p2", "None", "P1"];
const VISIBILITIES = ["public", "community", "shared", "private"] as const;

const atoms = fc.constantFrom(
  "@",
  "!",
  "role:admin",
  "role:Reader",
  "role:member",
  "role:%(owner)s",
  "project_id:%(project_id)s",
  "project_id:%(owner)s",
  "project_id:%(member_id)s",
  "user_id:%(member_id)s",
  "'community':%(visibility)s",
  "'public':%(visibility)s",
  "'shared':%(visibility)s",
  "'private':%(visibility)s",
  "is_admin:True",
  "True:%(protected)s",
  "'None':%(name)s",
  "'0':%(min_ram)s",
  "'arm':%(architecture)s",
  "project_id:%(nope)s",
  "'x-%(owner)s':x-%(owner)s",
  "'p1-active':%(owner)s-%(status)s",
  "'100%%':100%%",
  "roles:reader",
  "project_id:%(id)s",
  "'qcow2':%(disk_format)s",
  "'None':%(size)s",
  "rule:context_is_admin",
  "rule:get_image",
  "rule:undefined_rule",
  // Where oslo.policy raises: the whole decision denies, on both sides.
  "'x':%(owner)r",
  "'x':%s",
  "project_id.x:%(owner)s",
  "'unterminated:%(owner)s",
);

const checkText: fc.Arbitrary<string> = fc.letrec<{ check: string }>((tie) => ({
  check: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    atoms,
    fc
      .tuple(tie("check"), fc.constantFrom("and", "or"), tie("check"))
      .map(([a, op, b]) => `(${a} ${op} ${b})`),
    tie("check").map((c) => `not ${c}`),
  ),
})).check;

const roles = fc.subarray(["admin", "member", "reader", "Reader"]);
const creds: fc.Arbitrary<Credentials> = fc
  .record({ project: fc.constantFrom(...PROJECTS), roles, user: fc.constantFrom("u", "p1") })
  .map(({ project, roles: r, user }) => ({
    roles: r.map((x) => x.toLowerCase()),
    project_id: project,
    user_id: user,
    project_domain_id: "default",
    user_domain_id: "default",
    is_admin: r.includes("admin"),
  }));

/** A membership may have expired (docs/reference.md §12.1): then it is none, for the evaluation and the SQL. */
const EXPIRIES = [null, "2999-01-01T00:00:00Z", "2000-01-01T00:00:00Z"] as const;
const live = (m: { expires_at: string | null }) =>
  m.expires_at === null || Date.parse(m.expires_at) > Date.now();

const image = fc.record({
  owner: fc.constantFrom(...PROJECTS, null),
  visibility: fc.constantFrom(...VISIBILITIES),
  name: fc.constantFrom(null, "None", "cirros"),
  status: fc.constantFrom("queued", "active"),
  disk_format: fc.constantFrom(null, "qcow2"),
  size: fc.constantFrom(null, 0, 100),
  protected: fc.constantFrom(0, 1) as fc.Arbitrary<0 | 1>,
  min_ram: fc.constantFrom(0, 512),
  properties: fc.constantFrom("{}", '{"architecture": "arm"}', '{"architecture": "x86"}', '{"owner": "p2"}'),
  members: fc.uniqueArray(
    fc.record({ project: fc.constantFrom(...PROJECTS), expires_at: fc.constantFrom(...EXPIRIES) }),
    { selector: (m) => m.project },
  ),
});

type Img = typeof image extends fc.Arbitrary<infer T> ? T : never;

async function seed(img: Img) {
  const id = crypto.randomUUID();
  await env.DB.batch([
    env.DB.prepare(
      `INSERT INTO images (id, owner, visibility, name, status, disk_format, size, protected, min_ram, properties, created_at, updated_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')`,
    ).bind(
      id,
      img.owner,
      img.visibility,
      img.name,
      img.status,
      img.disk_format,
      img.size,
      img.protected,
      img.min_ram,
      img.properties,
    ),
    ...img.members.map((m) =>
      env.DB.prepare(
        "INSERT INTO image_members (image_id, member_id, status, created_at, updated_at, expires_at) VALUES (?1, ?2, 'pending', 'x', 'x', ?3)",
      ).bind(id, m.project, m.expires_at),
    ),
  ]);
  return id;
}

describe("a rule as SQL agrees with the rule evaluated (src/policy/sql.ts vs evaluate.ts)", () => {
  const { rules } = (() => {
    const load = loadPolicy("secure-rbac", "");
    if (!load.ok) throw new Error(load.error);
    return load.policy;
  })();

  it("on generated checks, images, memberships and credentials", async () => {
    await fc.assert(
      fc.asyncProperty(checkText, image, creds, async (text, img, who) => {
        const id = await seed(img);
        const row = (await env.DB.prepare("SELECT * FROM images WHERE id = ?1")
          .bind(id)
          .first()) as unknown as TargetImage;
        const check = parseCheck(text);
        const expected = evaluate(
          check,
          imageTarget(
            row,
            who.project_id as string,
            img.members.some((m) => m.project === who.project_id && live(m)),
          ),
          who,
          rules,
        );
        const p = new Params(id);
        const sql = sqlText(reduce(check, { creds: who, rules, param: p.param }));
        const got = await env.DB.prepare(`SELECT ${sql} AS ok FROM images i WHERE i.id = ?1`)
          .bind(...p.values)
          .first<{ ok: number }>();
        expect({ text, who, img, sql, ok: got?.ok === 1 }).toEqual({ text, who, img, sql, ok: expected });
      }),
      { numRuns: 300 },
    );
  }, 120_000);

  it("long rules stay within D1's limits (100 bound values, expression depth 100) and still agree", async () => {
    const owners = Array.from({ length: 150 }, (_, n) => `owner-${n}`);
    const allowList = `role:member and (${owners.map((o) => `'${o}':%(owner)s`).join(" or ")})`;
    const nots = `${"not ".repeat(3000)}project_id:%(owner)s`;
    const who: Credentials = {
      roles: ["member"],
      project_id: "owner-149",
      user_id: "u",
      project_domain_id: null,
      user_domain_id: null,
      is_admin: false,
    };
    for (const owner of ["owner-0", "owner-149", "owner-150"]) {
      const img: Img = {
        owner,
        visibility: "shared",
        name: null,
        status: "active",
        disk_format: null,
        size: null,
        protected: 0,
        min_ram: 0,
        properties: "{}",
        members: [],
      };
      const id = await seed(img);
      const row = (await env.DB.prepare("SELECT * FROM images WHERE id = ?1")
        .bind(id)
        .first()) as unknown as TargetImage;
      for (const text of [allowList, nots, `not (${allowList})`]) {
        const check = parseCheck(text);
        const expected = evaluate(check, imageTarget(row, "owner-149", false), who, rules);
        const p = new Params(id);
        const sql = sqlText(reduce(check, { creds: who, rules, param: p.param }));
        expect(p.values.length).toBeLessThanOrEqual(100);
        const got = await env.DB.prepare(`SELECT ${sql} AS ok FROM images i WHERE i.id = ?1`)
          .bind(...p.values)
          .first<{ ok: number }>();
        expect({ owner, text: text.slice(0, 30), ok: got?.ok === 1 }).toEqual({
          owner,
          text: text.slice(0, 30),
          ok: expected,
        });
      }
    }
  });

  it("folds what the credentials decide: an admin's get_image is the constant 1", () => {
    const admin: Credentials = {
      roles: ["admin"],
      project_id: "p",
      user_id: "u",
      project_domain_id: null,
      user_domain_id: null,
      is_admin: true,
    };
    const p = new Params();
    expect(
      sqlText(
        reduce(parseCheck(RULE_SETS["secure-rbac"].get_image as string), {
          creds: admin,
          rules,
          param: p.param,
        }),
      ),
    ).toBe("1");
    const nobody: Credentials = { ...admin, roles: [], is_admin: false };
    expect(
      sqlText(
        reduce(parseCheck(RULE_SETS["secure-rbac"].add_member as string), {
          creds: nobody,
          rules,
          param: p.param,
        }),
      ),
    ).toBe("0");
  });
});
