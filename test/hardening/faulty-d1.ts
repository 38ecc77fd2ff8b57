/**
 * A D1 binding that fails its Nth call (statement first/all/run/raw, or batch), for fault
 * injection through `app.fetch(req, { ...env, DB })`. Every other call goes to the real local
 * D1, so what the app writes before and after the fault is real.
 */
export type FaultMode =
  /** The call never reaches D1 and throws `error` (network loss, overload, timeout…). */
  | { kind: "throw"; error: unknown }
  /**
   * A batch runs for real with a failing statement appended, so SQLite executes the batch's own
   * statements (writes included) and then rolls the whole transaction back. Other calls: throw.
   */
  | { kind: "abort-in-transaction" };

export interface FaultyD1 {
  db: D1Database;
  /** Calls made so far (the failing one included). */
  calls(): number;
  /** The kind of the failing call, once it happened. */
  failed(): string | null;
}

export function faultyD1(real: D1Database, failAt: number, mode: FaultMode): FaultyD1 {
  let calls = 0;
  let failed: string | null = null;
  const realOf = new WeakMap<object, D1PreparedStatement>();

  const fail = (what: string): unknown => {
    failed = what;
    if (mode.kind === "throw") return mode.error;
    return new Error("D1_ERROR: Network connection lost.");
  };

  function statement(s: D1PreparedStatement): D1PreparedStatement {
    const proxy = new Proxy(s, {
      get(target, key) {
        if (key === "bind") return (...values: unknown[]) => statement(target.bind(...values));
        if (key === "first" || key === "all" || key === "run" || key === "raw") {
          const method = target[key] as (...a: unknown[]) => Promise<unknown>;
          return async (...args: unknown[]) => {
            if (++calls === failAt) throw fail(String(key));
            return method.apply(target, args);
          };
        }
        const value: unknown = Reflect.get(target, key, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    realOf.set(proxy, s);
    return proxy;
  }

  // The binding and each of its sessions (docs/reference.md §13: requests run in one) count and fail alike.
  function binding<B extends D1Database | D1DatabaseSession>(real: B): B {
    return new Proxy(real, {
      get(target, key) {
        if (key === "prepare") return (query: string) => statement(target.prepare(query));
        if (key === "withSession" && "withSession" in target) {
          return (constraint?: string) => binding(target.withSession(constraint));
        }
        if (key === "batch") {
          return async (statements: D1PreparedStatement[]) => {
            const own = statements.map((s) => realOf.get(s) ?? s);
            if (++calls === failAt) {
              if (mode.kind === "abort-in-transaction") {
                failed = "batch (rolled back)";
                return target.batch([...own, target.prepare("SELECT * FROM fault_injection_no_such_table")]);
              }
              throw fail("batch");
            }
            return target.batch(own);
          };
        }
        const value: unknown = Reflect.get(target, key, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  }
  const db = binding(real);
  return { db, calls: () => calls, failed: () => failed };
}

/** What D1 throws in production, as seen in Workers logs; some carry SQL text on purpose. */
export const D1_ERRORS: unknown[] = [
  new Error("D1_ERROR: Network connection lost."),
  new Error("D1 DB is overloaded. Requests queued for too long."),
  new Error("D1_ERROR: D1 DB storage operation exceeded timeout which caused object to be reset."),
  new Error("D1_ERROR: database is locked: SQLITE_BUSY (SELECT i.visibility FROM images i WHERE i.id = ?1)"),
  new TypeError("D1_TYPE_ERROR: Type 'object' not supported for value '[object Object]'"),
  new Error("D1_EXEC_ERROR: Error in line 1: INSERT INTO image_members: SQLITE_IOERR"),
  "D1_ERROR: a thrown string, not an Error",
];
