#!/usr/bin/env node
// node bench/seed-scale.mjs --persist-to DIR [--images 100000] [--members-per-image 10]
//
// Builds a local D1 for the scale benchmark, by SQL in batches (INSERT … SELECT over a recursive
// counter, 10,000 images and their memberships per batch), not through the API. DIR is a
// wrangler/Miniflare persist root (the database lands in DIR/v3/d1, where `npm run serve
// -- --persist-to DIR` finds it); it is required so the developer's .wrangler/state is never hit.
//
// Shape (the defaults give exactly 100,000 images and 1,000,000 memberships):
// - Probe rows, identical at every size, so a small and a large database give callers the same
//   view: PROBE_OWNER owns 100 images; PROBE_MEMBER is a member of 100 images of other owners
//   (40 accepted, 30 pending, 30 rejected). Every probe image has 10 members.
// - Bulk rows: the rest of --images, owned by 1,000 projects, 0.1% public, 1% community, 20%
//   private, the rest shared, each with --members-per-image members drawn from 10,000 projects
//   (about 100 memberships per project), statuses mixed.
// Creation times of all rows are spread over two years (2024–2025) in an order unrelated to ids,
// so a caller's images are scattered through the images_by_created index as in a real cloud.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

export const PROBE_OWNER = "scale-probe-owner";
export const PROBE_MEMBER = "scale-probe-member";
const PROBE_IMAGES = 200;
const MEMBERS_PER_PROBE_IMAGE = 10;
const BATCH = 10_000;
const T0 = Date.UTC(2024, 0, 1) / 1000;
const SPAN = 2 * 365 * 24 * 3600;

/** A deterministic, random-looking, lower-case UUID for ordinal n (SQL expression). */
const uuid = (n) =>
  `printf('%08x-%04x-4%03x-8%03x-%012x', (${n} * 2654435761) % 4294967296, (${n} * 40503) % 65536,
     (${n} * 977) % 4096, (${n} * 1597) % 4096, ${n})`;
const stamp = (seconds) => `strftime('%Y-%m-%dT%H:%M:%SZ', ${seconds}, 'unixepoch')`;
const counter = (name, col, from, to) =>
  `${name}(${col}) AS (SELECT ${from} UNION ALL SELECT ${col} + 1 FROM ${name} WHERE ${col} + 1 < ${to})`;
const STATUS = (expr) => `CASE ${expr} WHEN 0 THEN 'accepted' WHEN 1 THEN 'pending' ELSE 'rejected' END`;
const IMAGE_COLUMNS =
  "id, owner, visibility, name, disk_format, container_format, status, created_at, updated_at";

/** Bulk images [from, to) of `bulk`, each spread over the two years by a permutation of n. */
function bulkImages(from, to, bulk) {
  const t = `${T0} + ((n * 7919) % ${bulk}) * ${SPAN} / ${bulk}`;
  return `INSERT INTO images (${IMAGE_COLUMNS})
    WITH RECURSIVE ${counter("seq", "n", from, to)}
    SELECT ${uuid("n")}, 'scale-owner-' || printf('%04d', n % 1000),
      CASE WHEN n % 1000 = 0 THEN 'public' WHEN n % 100 = 1 THEN 'community'
           WHEN n % 5 = 2 THEN 'private' ELSE 'shared' END,
      'bulk-' || n, 'qcow2', 'bare', 'active', ${stamp(t)}, ${stamp(t)}
    FROM seq`;
}

function bulkMembers(from, to, bulk, perImage) {
  const t = `${T0} + ((n * 7919) % ${bulk}) * ${SPAN} / ${bulk} + k * 60`;
  return `INSERT INTO image_members (image_id, member_id, status, created_at, updated_at)
    WITH RECURSIVE ${counter("seq", "n", from, to)}, ${counter("ks", "k", 0, perImage)}
    SELECT ${uuid("n")}, 'scale-member-' || printf('%05d', ((n * ${perImage} + k) * 7919) % 10000),
      ${STATUS("(n + k) % 3")}, ${stamp(t)}, ${stamp(t)}
    FROM seq, ks`;
}

/** Probe image j (0..199) has ordinal 1,000,000 + j: disjoint from bulk ordinals. */
function probeImages() {
  const t = `${T0} + ((j * 97) % ${PROBE_IMAGES}) * ${SPAN} / ${PROBE_IMAGES} + 1800`;
  return `INSERT INTO images (${IMAGE_COLUMNS})
    WITH RECURSIVE ${counter("seq", "j", 0, PROBE_IMAGES)}
    SELECT ${uuid("1000000 + j")},
      CASE WHEN j < 100 THEN '${PROBE_OWNER}' ELSE 'scale-owner-' || printf('%04d', j % 1000) END,
      CASE WHEN j % 5 = 0 THEN 'private' ELSE 'shared' END,
      'probe-' || j, 'qcow2', 'bare', 'active', ${stamp(t)}, ${stamp(t)}
    FROM seq`;
}

function probeMembers() {
  const t = `${T0} + ((j * 97) % ${PROBE_IMAGES}) * ${SPAN} / ${PROBE_IMAGES} + 1800 + k * 60`;
  // PROBE_MEMBER is member k = 0 of images 100..199: j % 10 in 0..3 accepted, 4..6 pending, else rejected.
  const probeStatus = `CASE WHEN j % 10 < 4 THEN 'accepted' WHEN j % 10 < 7 THEN 'pending' ELSE 'rejected' END`;
  return `INSERT INTO image_members (image_id, member_id, status, created_at, updated_at)
    WITH RECURSIVE ${counter("seq", "j", 0, PROBE_IMAGES)}, ${counter("ks", "k", 0, MEMBERS_PER_PROBE_IMAGE)}
    SELECT ${uuid("1000000 + j")},
      CASE WHEN j >= 100 AND k = 0 THEN '${PROBE_MEMBER}'
           ELSE 'scale-member-' || printf('%05d', ((j * 10 + k) * 7919 + 5003) % 10000) END,
      CASE WHEN j >= 100 AND k = 0 THEN ${probeStatus} ELSE ${STATUS("(j + k) % 3")} END,
      ${stamp(t)}, ${stamp(t)}
    FROM seq, ks`;
}

function migrate(persistTo) {
  // Through this Node.js: wrangler needs the one pinned in devDependencies, not the system's.
  const wrangler = join(root, "node_modules", "wrangler", "bin", "wrangler.js");
  const r = spawnSync(
    process.execPath,
    [wrangler, "d1", "migrations", "apply", "DB", "--local", "--persist-to", persistTo],
    {
      cwd: root,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" },
      encoding: "utf8",
    },
  );
  if (r.status !== 0) {
    process.stderr.write(`${r.stdout}${r.stderr}`);
    throw new Error("applying D1 migrations failed");
  }
}

/** Seeds DIR; returns the row counts. `log` gets progress lines. */
export async function seed({ persistTo, images = 100_000, membersPerImage = 10, log = () => {} }) {
  if (images < PROBE_IMAGES) throw new Error(`--images must be at least ${PROBE_IMAGES}`);
  const started = Date.now();
  migrate(persistTo);
  // The Miniflare that wrangler runs (and `npm run serve` uses), on the same D1 id as wrangler.toml.
  const { Miniflare, convertV4MiniflareOptions } = createRequire(
    join(root, "node_modules", "wrangler", "package.json"),
  )("miniflare");
  const { unstable_getMiniflareWorkerOptions } = await import("wrangler");
  const { d1Databases } = unstable_getMiniflareWorkerOptions(join(root, "wrangler.toml")).workerOptions;
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      modules: true,
      script: "export default {}",
      resourcePersistencePath: join(persistTo, "v3"),
      d1Databases,
    }),
  );
  try {
    const db = await mf.getD1Database("DB");
    const { results } = await db.prepare("SELECT COUNT(*) AS n FROM images").all();
    if (results[0].n > 0)
      throw new Error(`${persistTo} already holds ${results[0].n} images; use an empty dir`);
    await db.batch([db.prepare(probeImages()), db.prepare(probeMembers())]);
    const bulk = images - PROBE_IMAGES;
    for (let from = 0; from < bulk; from += BATCH) {
      const to = Math.min(from + BATCH, bulk);
      // One batch = one transaction: the images and their memberships.
      await db.batch([
        db.prepare(bulkImages(from, to, bulk)),
        db.prepare(bulkMembers(from, to, bulk, membersPerImage)),
      ]);
      log(`seed-scale: ${to + PROBE_IMAGES} images…`);
    }
    const count = async (table) => (await db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).first("n")) ?? 0;
    const counts = { images: await count("images"), memberships: await count("image_members") };
    const seconds = (Date.now() - started) / 1000;
    log(`seed-scale: ${counts.images} images, ${counts.memberships} memberships in ${seconds.toFixed(1)} s`);
    return { ...counts, seconds, probeOwner: PROBE_OWNER, probeMember: PROBE_MEMBER };
  } finally {
    await mf.dispose();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { values } = parseArgs({
    options: {
      "persist-to": { type: "string" },
      images: { type: "string", default: "100000" },
      "members-per-image": { type: "string", default: "10" },
    },
  });
  if (!values["persist-to"]) {
    console.error("usage: node bench/seed-scale.mjs --persist-to DIR [--images N] [--members-per-image K]");
    process.exit(2);
  }
  const result = await seed({
    persistTo: resolve(values["persist-to"]),
    images: Number(values.images),
    membersPerImage: Number(values["members-per-image"]),
    log: (line) => console.error(line),
  });
  console.log(JSON.stringify(result));
}
