/**
 * The one log format: a JSON line per event, `level` and `msg` first, then `request_id` when the
 * event belongs to a request (null: the Cron Trigger, which has none), then the event's own
 * fields. The same keys everywhere, so one query finds a request's lines whatever wrote them.
 * A line never holds a token or a password.
 */
export type LogFields = { request_id?: string | null; level?: never; msg?: never } & Record<string, unknown>;

type Level = "info" | "warn" | "error";

function write(level: Level, msg: string, { request_id, ...fields }: LogFields = {}): void {
  // JSON.stringify leaves request_id out when it is undefined: not known, not claimed.
  console[level](JSON.stringify({ level, msg, request_id, ...fields }));
}

export const log = {
  info: (msg: string, fields?: LogFields) => write("info", msg, fields),
  warn: (msg: string, fields?: LogFields) => write("warn", msg, fields),
  error: (msg: string, fields?: LogFields) => write("error", msg, fields),
};

/** What a caught error says, for a log line's `detail` (never for a response). */
export const detailOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));
