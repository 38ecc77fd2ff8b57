// Lean local D1 for `npm run serve`: one workerd service that replaces Miniflare's D1 entry worker
// ("d1:db:entry") *and* its database Durable Object ("d1:db"), so that a query costs one
// worker-to-worker hop instead of two, with no JSON re-encoding and no schema validation on the way.
//
// The Worker still sees workerd's own D1 binding (`cloudflare-internal:d1-api`, wrapped around a
// fetcher bound to this service with the database id in its props), so prepare/bind/first/all/run/
// raw/batch/exec, result shapes and error texts come from the same client code as under
// `npm start`. This service answers both protocols that client speaks to its fetcher:
//   - JS RPC `query({ queries, bookmark })` (compatibility flag `d1_binding_jsrpc`), returning
//     `{ results: [{ meta, data: { kind: "raw", columns, rows } }], bookmark? }` and throwing
//     `D1_ERROR` errors, as Miniflare's d1/entry.worker.ts does;
//   - HTTP `POST /query` and `/execute` with `?resultsFormat=` (without that flag), answering JSON
//     exactly as Miniflare's d1/database.worker.ts does.
// The object class, its unique key and its storage directory are Miniflare's (see serve.mjs), so
// `idFromName(<database id>)` opens the very SQLite file that `wrangler d1 migrations apply
// --local` and `wrangler dev` use. Semantics copied from Miniflare's D1DatabaseObject: every call
// is one storage transaction (a batch is all or nothing), per-statement meta from total_changes()
// and last_insert_rowid(), byte arrays as blobs, blobs back as byte arrays, values as after
// Miniflare's JSON round trip (non-finite numbers become null).
import { DurableObject, WorkerEntrypoint } from "cloudflare:workers";

const NAMESPACE = "MINIFLARE_NAMESPACE"; // props key carrying the database id (Miniflare's)
const OBJECT = "MINIFLARE_OBJECT"; // the Durable Object namespace binding
const NAMESPACE_HEADER = "MF-Namespace";
const COMMIT_TOKEN = "x-cf-d1-session-commit-token";
const EXPORT_PRAGMA = "PRAGMA miniflare_d1_export(?,?,?);";
const served_by = "miniflare.db";

class D1Error extends Error {
  constructor(cause) {
    const message =
      typeof cause === "object" && cause !== null && typeof cause.message === "string"
        ? cause.message
        : String(cause);
    super(message);
    this.name = "D1_ERROR";
  }
}

/** As Miniflare's JSON round trip leaves a bound value: NaN/±Infinity become null. */
function param(value) {
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (Array.isArray(value)) return new Uint8Array(value).buffer; // a byte array is a blob
  return value;
}

function row(values) {
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value instanceof ArrayBuffer) values[i] = Array.from(new Uint8Array(value));
    else if (typeof value === "number" && !Number.isFinite(value)) values[i] = null;
  }
  return values;
}

export class D1DatabaseObject extends DurableObject {
  #sql = this.ctx.storage.sql;

  #changes() {
    const cursor = this.#sql.exec("SELECT total_changes(), last_insert_rowid()");
    const [totalChanges, lastRowId] = cursor.raw().next().value;
    return { totalChanges, lastRowId };
  }

  #one(query) {
    const sql = this.#sql;
    const beforeSize = sql.databaseSize;
    const before = this.#changes();
    const params = query.params ?? [];
    const start = performance.now();
    const cursor = sql.exec(query.sql, ...params.map(param));
    const columns = cursor.columnNames;
    const rows = [];
    for (const values of cursor.raw()) rows.push(row(values));
    const duration = performance.now() - start;
    const afterSize = sql.databaseSize;
    const after = this.#changes();
    const changes = after.totalChanges - before.totalChanges;
    return {
      columns,
      rows,
      meta: {
        served_by,
        served_by_primary: true,
        total_attempts: 1,
        timings: { sql_duration_ms: duration },
        duration,
        changes,
        last_row_id: after.lastRowId,
        changed_db: changes !== 0 || after.lastRowId !== before.lastRowId || afterSize !== beforeSize,
        size_after: afterSize,
        rows_read: cursor.rowsRead,
        rows_written: cursor.rowsWritten,
      },
    };
  }

  /** All queries in one storage transaction; throws a D1_ERROR on any failure. */
  async #txn(queries, wantBookmark) {
    const nonEmpty = queries.filter((q) => q.sql.replace(/^\s*--.*/gm, "").trim().length > 0);
    if (nonEmpty.length === 0) throw new D1Error(new Error("No SQL statements detected."));
    try {
      const results = this.ctx.storage.transactionSync(() => nonEmpty.map((q) => this.#one(q)));
      if (!wantBookmark) return { results };
      try {
        return { results, bookmark: await this.ctx.storage.getCurrentBookmark() };
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        throw new Error(`Failed to get session commit token: ${message}`, { cause: e });
      }
    } catch (e) {
      throw new D1Error(e);
    }
  }

  /** The JS RPC protocol (d1_binding_jsrpc). */
  async query({ queries, bookmark }) {
    if (isExport(queries)) throw new D1Error(new Error(EXPORT_UNSUPPORTED));
    // Miniflare's entry worker validates the request with zod, which refuses NaN.
    for (const q of queries) {
      if (q.params?.some((v) => Number.isNaN(v))) throw new D1Error(new Error("ZodError"));
    }
    const { results, bookmark: token } = await this.#txn(queries, Boolean(bookmark?.trim()));
    const answer = {
      results: results.map(({ columns, rows, meta }) => ({
        meta: rpcMeta(meta),
        data: { kind: "raw", columns, rows },
      })),
    };
    if (token) answer.bookmark = token;
    return answer;
  }

  /**
   * The HTTP protocol (without d1_binding_jsrpc): the body of a `POST /query` or `/execute`, answered
   * as Miniflare's object answers it. Called over RPC by the entry below with the request's parts,
   * which costs less than handing a Request and a Response across.
   */
  async http(pathname, format, commitToken, text) {
    if (pathname !== "/query" && pathname !== "/execute") return { status: 404 };
    let body = JSON.parse(text);
    if (!Array.isArray(body)) body = [body];
    if (isExport(body)) return { body: JSON.stringify({ success: false, error: EXPORT_UNSUPPORTED }) };
    try {
      const { results, bookmark } = await this.#txn(body, Boolean(commitToken?.trim()));
      const answer = results.map(({ columns, rows, meta }) => ({
        success: true,
        results:
          format === "ROWS_AND_COLUMNS"
            ? { columns, rows }
            : rows.map((r) => Object.fromEntries(columns.map((c, i) => [c, r[i]]))),
        meta,
      }));
      return { body: JSON.stringify(answer), bookmark };
    } catch (e) {
      // Status 200, as Miniflare's.
      return { body: JSON.stringify({ success: false, error: e.message }) };
    }
  }
}

/** The meta as Miniflare's entry worker passes it on over RPC: in its zod schema's key order. */
function rpcMeta(m) {
  return {
    served_by: m.served_by,
    served_by_primary: m.served_by_primary,
    timings: m.timings,
    duration: m.duration,
    changes: m.changes,
    last_row_id: m.last_row_id,
    changed_db: m.changed_db,
    size_after: m.size_after,
    rows_read: m.rows_read,
    rows_written: m.rows_written,
    total_attempts: m.total_attempts,
  };
}

const EXPORT_UNSUPPORTED = "D1 export is not supported by npm run serve's lean D1; use --d1=miniflare";

function isExport(queries) {
  return queries.length === 1 && queries[0].sql === EXPORT_PRAGMA && (queries[0].params?.length || 0) >= 2;
}

/** The fetcher the D1 binding wraps: finds the database's object and hands the call on. */
export default class LeanD1 extends WorkerEntrypoint {
  #object(name) {
    if (name == null) throw new Error("lean D1: no database id in props or MF-Namespace header");
    const namespace = this.env[OBJECT];
    return namespace.get(namespace.idFromName(name));
  }

  query(request) {
    return this.#object(this.ctx.props?.[NAMESPACE]).query(request);
  }

  async fetch(request) {
    const url = new URL(request.url);
    const object = this.#object(this.ctx.props?.[NAMESPACE] ?? request.headers.get(NAMESPACE_HEADER));
    if (request.method !== "POST") return new Response(null, { status: 404 });
    const { status, body, bookmark } = await object.http(
      url.pathname,
      url.searchParams.get("resultsFormat"),
      request.headers.get(COMMIT_TOKEN),
      await request.text(),
    );
    if (status !== undefined) return new Response(null, { status });
    const headers = { "Content-Type": "application/json" };
    if (bookmark !== undefined) headers[COMMIT_TOKEN] = bookmark;
    return new Response(body, { headers });
  }
}
