/**
 * A D1 binding that records every round trip it makes: each `first`/`all`/`run`/`raw` of a
 * prepared statement is one, a whole `batch([...])` is one, and `exec` is one. Each trip keeps
 * the SQL text and bound values of the statements it carried, for assertions on how a request
 * talks to the database and for `EXPLAIN QUERY PLAN` of exactly what the stores ran, and — once
 * it answered — the rows D1 says it read and wrote (`meta.rows_read` / `rows_written` of each
 * D1Result: summed over a batch; unknown for `first`, `raw` and `exec`, which return no meta).
 */
export interface Statement {
  sql: string;
  params: unknown[];
}

export type TripKind = "first" | "all" | "run" | "raw" | "batch" | "exec";

export interface RoundTrip {
  kind: TripKind;
  statements: Statement[];
  /** D1's `meta.rows_read` (a batch: the sum); undefined until answered, or when D1 gives no meta. */
  rowsRead?: number;
  /** D1's `meta.rows_written`, likewise. */
  rowsWritten?: number;
}

/** Puts D1's row counts of the results on the trip that carried them. */
function measured<R extends D1Result | D1Result[]>(trip: RoundTrip, result: R): R {
  const metas = (Array.isArray(result) ? result : [result]).map((r) => r.meta as Partial<D1Meta> | undefined);
  const sum = (key: "rows_read" | "rows_written") =>
    metas.every((m) => typeof m?.[key] === "number")
      ? metas.reduce((n, m) => n + (m?.[key] as number), 0)
      : undefined;
  trip.rowsRead = sum("rows_read");
  trip.rowsWritten = sum("rows_written");
  return result;
}

/** Rows read by these trips, or null when one of them could not say. */
export function rowsRead(trips: readonly RoundTrip[]): number | null {
  if (trips.some((t) => t.rowsRead === undefined)) return null;
  return trips.reduce((n, t) => n + (t.rowsRead as number), 0);
}

export interface CountingDb {
  /** Stands in for `env.DB`. */
  db: D1Database;
  /** Every round trip since creation or the last `reset()`, in order. */
  trips: RoundTrip[];
  reset(): void;
}

/** A prepared statement that remembers its SQL and binds and reports each execution. */
class CountedStatement {
  constructor(
    readonly inner: D1PreparedStatement,
    readonly statement: Statement,
    private readonly record: (trip: RoundTrip) => void,
  ) {}

  bind(...values: unknown[]): D1PreparedStatement {
    return counted(this.inner.bind(...values), { sql: this.statement.sql, params: values }, this.record);
  }

  first(colName?: string): Promise<unknown> {
    this.record({ kind: "first", statements: [this.statement] });
    return colName === undefined ? this.inner.first() : this.inner.first(colName);
  }

  all(): Promise<D1Result> {
    const trip: RoundTrip = { kind: "all", statements: [this.statement] };
    this.record(trip);
    return this.inner.all().then((r) => measured(trip, r));
  }

  run(): Promise<D1Result> {
    const trip: RoundTrip = { kind: "run", statements: [this.statement] };
    this.record(trip);
    return this.inner.run().then((r) => measured(trip, r));
  }

  raw(options?: { columnNames?: boolean }): Promise<unknown> {
    this.record({ kind: "raw", statements: [this.statement] });
    return options?.columnNames === true ? this.inner.raw({ columnNames: true }) : this.inner.raw();
  }
}

// The class implements the overloads of D1PreparedStatement with one signature each.
const counted = (inner: D1PreparedStatement, statement: Statement, record: (trip: RoundTrip) => void) =>
  new CountedStatement(inner, statement, record) as unknown as D1PreparedStatement;

function unwrap(statement: D1PreparedStatement): { inner: D1PreparedStatement; statement: Statement } {
  if (!(statement instanceof CountedStatement)) {
    throw new Error("a statement in batch() was not prepared through the counting binding");
  }
  return { inner: statement.inner, statement: statement.statement };
}

/** prepare and batch over `real` (the binding or one of its sessions), recorded. */
function counting(real: Pick<D1Database, "prepare" | "batch">, record: (trip: RoundTrip) => void) {
  return {
    prepare(sql: string): D1PreparedStatement {
      return counted(real.prepare(sql), { sql, params: [] }, record);
    },
    batch<T = unknown>(statements: D1PreparedStatement[]): Promise<D1Result<T>[]> {
      const parts = statements.map(unwrap);
      const trip: RoundTrip = { kind: "batch", statements: parts.map((p) => p.statement) };
      record(trip);
      return real.batch<T>(parts.map((p) => p.inner)).then((r) => measured(trip, r));
    },
  };
}

export function countingDb(real: D1Database): CountingDb {
  const trips: RoundTrip[] = [];
  const record = (trip: RoundTrip) => {
    trips.push(trip);
  };
  const db = {
    ...counting(real, record),
    exec(sql: string): Promise<D1ExecResult> {
      record({ kind: "exec", statements: [{ sql, params: [] }] });
      return real.exec(sql);
    },
    // A session (read replication) is counted like the binding itself.
    withSession(constraintOrBookmark?: D1SessionBookmark | D1SessionConstraint): D1DatabaseSession {
      const session = real.withSession(constraintOrBookmark);
      return { ...counting(session, record), getBookmark: () => session.getBookmark() } as D1DatabaseSession;
    },
    dump(): Promise<ArrayBuffer> {
      throw new Error("dump() is deprecated and not counted");
    },
  };
  return {
    db: db as unknown as D1Database,
    trips,
    reset() {
      trips.length = 0;
    },
  };
}

/** Statements that change data, by their leading keyword. */
/** The audit context a batch opens and closes around its changes (src/audit/context.ts). */
export const isContext = (s: Statement) => /\bchange_context\b/.test(s.sql) && !/\bimage/.test(s.sql);

/** A statement that changes data; the audit context's bookkeeping is not one. */
export const isWrite = (s: Statement) => /^\s*(INSERT|UPDATE|DELETE|REPLACE)\b/i.test(s.sql) && !isContext(s);
