// The image data part of `npm run bench`: upload and download throughput of one client (curl),
// with and without Content-Length, for glance-edge, its floor Worker and Glance, interleaved run
// by run. See bench/README.md.
import { createHash, randomBytes } from "node:crypto";
import { closeSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { groupCpuSeconds } from "./processes.mjs";
import { f0, f1, f2, median, pct, ratio, table, times } from "./report.mjs";

/**
 * The operations. An upload sends the file to a new image (or, on the floor, a new key); a
 * download reads an object stored once by glance-edge's own upload of that kind, the floor
 * reading the very same R2 object.
 */
const OPS = [
  { op: "upload", upload: true, chunked: false, what: "PUT file, Content-Length (one R2 put)" },
  { op: "upload-chunked", upload: true, chunked: true, what: "PUT file, chunked (R2 multipart)" },
  { op: "download", upload: false, chunked: false, what: "GET file stored by a Content-Length upload" },
  { op: "download-chunked", upload: false, chunked: true, what: "GET file stored by a chunked upload" },
];

/** A file of `mib` MiB of random bytes and its MD5. */
function randomFile(path, mib) {
  const md5 = createHash("md5");
  const fd = openSync(path, "w");
  try {
    for (let i = 0; i < mib; i++) {
      const block = randomBytes(1024 * 1024);
      md5.update(block);
      writeSync(fd, block);
    }
  } finally {
    closeSync(fd);
  }
  return md5.digest("hex");
}

/**
 * ctx: { edge, floor, glance (or null), tmp, mib, duration, runs, curl, api, log, load }
 *   curl(args) runs curl pinned to the load CPUs and resolves to its stdout;
 *   api(server) gives (method, path, body) => JSON as the bench's owner project;
 *   identity: the headers of that project, as curl arguments.
 */
export async function runData(ctx) {
  const { edge, floor, glance, tmp, mib, duration, runs, curl, api, identity, log, load } = ctx;
  const file = join(tmp, "image-data.bin");
  const size = mib * 1024 * 1024;
  const md5 = randomFile(file, mib);
  log(`bench: data: ${mib} MiB of random bytes, md5 ${md5}`);
  const apiServers = [edge, ...(glance ? [glance] : [])];

  const W = "%{http_code} %{time_total} %{size_upload} %{size_download}";
  const parse = (out) => {
    const [code, seconds, up, down] = out.trim().split(" ");
    return { code: Number(code), seconds: Number(seconds), up: Number(up), down: Number(down) };
  };
  const upload = (url, chunked, headers) =>
    curl([
      ...["-sS", "-o", "/dev/null", "-w", W, "--max-time", "900", "-H", "Expect:"],
      ...headers,
      ...["-H", "Content-Type: application/octet-stream"],
      ...(chunked ? ["-H", "Transfer-Encoding: chunked"] : []),
      ...["-T", file, url],
    ]).then(parse);
  const download = (url, headers) =>
    curl(["-sS", "-o", "/dev/null", "-w", W, "--max-time", "900", ...headers, url]).then(parse);

  const newImage = async (server) =>
    (
      await api(server)("POST", "/v2/images", {
        name: "bench-data",
        disk_format: "raw",
        container_format: "bare",
        visibility: "private",
      })
    ).id;
  const removeImage = (server, id) => api(server)("DELETE", `/v2/images/${id}`);

  // The objects the downloads read: one of each kind per server, checked once.
  const stored = new Map();
  for (const server of apiServers) {
    for (const chunked of [false, true]) {
      const id = await newImage(server);
      const r = await upload(`${server.base}/v2/images/${id}/file`, chunked, identity);
      if (r.code !== 204) throw new Error(`${server.name}: upload answered ${r.code}`);
      const image = await api(server)("GET", `/v2/images/${id}`);
      if (image.checksum !== md5 || image.size !== size || image.status !== "active") {
        throw new Error(`${server.name}: stored ${JSON.stringify(image)}, expected md5 ${md5}, size ${size}`);
      }
      stored.set(`${server.name}:${chunked}`, id);
    }
  }
  const keyOf = (chunked) => `images/${stored.get(`${edge.name}:${chunked}`)}`;

  /** Transfers until `duration` seconds of transfer time, at least one; MB/s over them. */
  /** A transfer, with the CPU seconds the server's process group spent meanwhile. */
  const timed = async (server, transfer) => {
    const before = groupCpuSeconds(server.group);
    const r = await transfer();
    const after = groupCpuSeconds(server.group);
    return { ...r, cpu: before === null ? Number.NaN : after - before };
  };

  async function measure(server, o, run) {
    let bytes = 0;
    let seconds = 0;
    let transfers = 0;
    let errors = 0;
    let cpu = 0;
    const cleanup = [];
    while (transfers === 0 || (seconds < duration && transfers < 100)) {
      let r;
      if (o.upload) {
        if (server.kind === "floor") {
          const key = `bench-upload/${o.op}-${run}-${transfers}`;
          cleanup.push(() => curl(["-sS", "-o", "/dev/null", "-X", "DELETE", `${server.base}/r2/${key}`]));
          r = await timed(server, () => upload(`${server.base}/r2/${key}`, o.chunked, []));
        } else {
          const id = await newImage(server);
          cleanup.push(() => removeImage(server, id));
          r = await timed(server, () => upload(`${server.base}/v2/images/${id}/file`, o.chunked, identity));
        }
        // A chunked upload's size_upload counts the chunks' framing too: the payload is the file.
        if (r.code !== 204 || r.up < size) errors++;
        bytes += size;
      } else {
        const url =
          server.kind === "floor"
            ? `${server.base}/r2/${keyOf(o.chunked)}`
            : `${server.base}/v2/images/${stored.get(`${server.name}:${o.chunked}`)}/file`;
        r = await timed(server, () => download(url, server.kind === "floor" ? [] : identity));
        if (r.code !== 200 || r.down !== size) errors++;
        bytes += size;
      }
      seconds += r.seconds;
      cpu += r.cpu;
      transfers++;
    }
    for (const step of cleanup) await step();
    return { mbps: bytes / seconds / 1e6, cpu_ms_per_mb: (1000 * cpu) / (bytes / 1e6), transfers, errors };
  }

  const servers = [edge, floor, ...(glance ? [glance] : [])];
  const results = [];
  // Warm-up: one transfer of each kind on each server, not recorded.
  for (const o of OPS) for (const server of servers) await measure(server, { ...o }, 0);
  for (let run = 1; run <= runs; run++) {
    for (const o of OPS) {
      for (const server of servers) {
        const loadBefore = load();
        const r = await measure(server, o, run);
        results.push({ ...r, op: o.op, server: server.name, run, loadavg: loadBefore });
        log(
          `run ${run} ${server.name.padEnd(6)} ${o.op.padEnd(16)} ${f1(r.mbps).padStart(8)} MB/s  CPU ${f2(r.cpu_ms_per_mb)} ms/MB  ${r.transfers} transfer(s)${r.errors ? `, ${r.errors} failed` : ""}  (loadavg ${loadBefore[0]})`,
        );
      }
    }
  }

  const summary = [];
  for (const o of OPS) {
    for (const server of servers) {
      const rs = results.filter((r) => r.op === o.op && r.server === server.name);
      const s = {
        op: o.op,
        server: server.name,
        mbps: median(rs.map((r) => r.mbps)),
        mbps_min: Math.min(...rs.map((r) => r.mbps)),
        mbps_max: Math.max(...rs.map((r) => r.mbps)),
        cpu_ms_per_mb: median(rs.map((r) => r.cpu_ms_per_mb)),
        transfers: rs.reduce((n, r) => n + r.transfers, 0),
        errors: rs.reduce((n, r) => n + r.errors, 0),
      };
      const me = { server: server.name, op: o.op };
      if (server.kind === "edge") {
        const theFloor = { server: floor.name, op: o.op };
        s.of_floor = ratio(results, runs, me, theFloor, "mbps");
        // The same share in CPU time per MB: the floor's over the app's.
        s.of_floor_cpu = ratio(results, runs, theFloor, me, "cpu_ms_per_mb");
      }
      if (glance && server.kind !== "glance") {
        s.vs_glance = ratio(results, runs, me, { server: glance.name, op: o.op }, "mbps");
      }
      summary.push(s);
    }
  }
  const columns = [
    ["op", (r) => r.op],
    ["server", (r) => r.server],
    ["MB/s", (r) => f1(r.mbps)],
    ["min-max", (r) => `${f0(r.mbps_min)}-${f0(r.mbps_max)}`],
    ["CPU ms/MB", (r) => f2(r.cpu_ms_per_mb)],
    ["of floor", (r) => pct(r.of_floor)],
    ["(CPU)", (r) => pct(r.of_floor_cpu)],
  ];
  if (glance) columns.push(["vs Glance", (r) => times(r.vs_glance)]);
  columns.push(["transfers", (r) => String(r.transfers)], ["failed", (r) => String(r.errors)]);
  return {
    text: `image data, ${mib} MiB per transfer, one client (curl), transfers for ${duration}s of transfer time per run:\n${table(summary, columns)}`,
    summary,
    results,
    ops: OPS,
  };
}
