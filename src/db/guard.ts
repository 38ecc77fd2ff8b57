import type { Db } from "../env";
import { StorageUnavailable } from "../http/errors";
import { isConstraintViolation, isUniqueViolation } from "./sql";

/**
 * The D1 binding as the stores see it: a failing call (network, overload, timeout, a reset
 * storage object, any SQLite error) surfaces as StorageUnavailable, which answers 503 with
 * Retry-After and logs the cause, so no D1 or SQL text can reach a response. Constraint
 * violations pass through untouched: UNIQUE becomes 409 in the stores (src/db/sql.ts), the
 * others are bugs (500).
 *
 * Statements are wrapped where they are executed; batch() gets the binding's own statements
 * back, because D1 reads their internals.
 */
export function guard(db: Db): Db {
  const unwrapped = new WeakMap<object, D1PreparedStatement>();

  const translate = (err: unknown): never => {
    // UNIQUE: the stores answer 409. Other constraints (CHECK, NOT NULL, FOREIGN KEY) mean a bug,
    // not a storage outage: a logged 500 rather than an invitation to retry.
    if (isUniqueViolation(err) || isConstraintViolation(err)) throw err;
    throw new StorageUnavailable(err);
  };

  async function run<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      return translate(err);
    }
  }

  const EXECUTE = new Set<PropertyKey>(["first", "all", "run", "raw"]);

  function wrap(statement: D1PreparedStatement): D1PreparedStatement {
    const guarded = new Proxy(statement, {
      get(target, key) {
        if (key === "bind") {
          return (...values: unknown[]) => {
            try {
              return wrap(target.bind(...values));
            } catch (err) {
              return translate(err);
            }
          };
        }
        const value: unknown = Reflect.get(target, key, target);
        if (EXECUTE.has(key) && typeof value === "function") {
          return (...args: unknown[]) => run(() => value.apply(target, args) as Promise<unknown>);
        }
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    unwrapped.set(guarded, statement);
    return guarded;
  }

  return {
    prepare(query: string) {
      try {
        return wrap(db.prepare(query));
      } catch (err) {
        return translate(err);
      }
    },
    batch<T = unknown>(statements: D1PreparedStatement[]) {
      return run(() => db.batch<T>(statements.map((s) => unwrapped.get(s) ?? s)));
    },
  };
}
