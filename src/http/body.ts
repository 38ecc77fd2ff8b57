import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../env";
import { ApiError } from "./errors";

export const MEMBER_BODY_LIMIT = 64 * 1024;
export const IMAGE_BODY_LIMIT = 1024 * 1024;

/** Reads at most `limit` bytes of the body; more is a 413, whether or not Content-Length said so. */
async function readLimited(request: Request, limit: number): Promise<Uint8Array> {
  const declared = request.headers.get("Content-Length");
  if (declared !== null && Number(declared) > limit) throw tooLarge();
  if (request.body === null) return new Uint8Array();
  if (declared !== null) {
    // The connection delimits the body by its declared length: read it whole, natively.
    const whole = new Uint8Array(await request.arrayBuffer());
    if (whole.byteLength > limit) throw tooLarge();
    return whole;
  }
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

const tooLarge = () => new ApiError(413, "Request body too large.");
const LONE_SURROGATE = /\p{Cs}/u;
/** @hono/zod-validator's (hono/validator's) test for a JSON body. */
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** The request again with `text` as its body, declared as JSON. */
function withJsonBody(request: Request, text: string): Request {
  const headers = new Headers(request.headers);
  headers.set("Content-Type", "application/json");
  // The client's length counted the bytes it sent, not this text.
  headers.delete("Content-Length");
  return new Request(request.url, { method: request.method, headers, body: text });
}

/**
 * Makes `text` the body the route's validator reads: c.req.json() parses HonoRequest's cached
 * text, and the validator only reads a body declared as JSON (its own test of the media type),
 * so a body of another type is re-declared, in a new Request (request headers are immutable).
 */
export function presentJson(c: Context<AppEnv>, text: string): void {
  // bodyCache holds promises, whatever its type says: the accessors chain on them.
  (c.req.bodyCache as { text?: Promise<string> }).text = Promise.resolve(text);
  if (!JSON_MEDIA_TYPE.test(c.req.header("Content-Type")?.split(";")[0]?.trim() ?? "")) {
    c.req.raw = withJsonBody(c.req.raw, text);
  }
}

/**
 * JSON bodies (docs/reference.md §2): parsed as JSON whatever the Content-Type, at most `limit` bytes; other
 * methods than POST, PUT and PATCH must not carry one. The checked text becomes the request's
 * body, declared as JSON, so every body still goes through @hono/zod-validator.
 */
export const jsonBody = (limit: number) =>
  createMiddleware<AppEnv>(async (c, next) => {
    const method = c.req.method;
    const bytes = await readLimited(c.req.raw, limit);
    if (method !== "POST" && method !== "PUT" && method !== "PATCH") {
      if (bytes.byteLength > 0) throw new ApiError(400, "A body is not expected with this request.");
      return next();
    }
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      throw new ApiError(400, "Malformed JSON in request body.");
    }
    if (text.trim() === "") throw new ApiError(400, "Body expected in request.");
    try {
      // Lone surrogates (\ud800) decode to text that D1 stores altered: such a member could never
      // be named again. Refused like any other text that is not valid Unicode.
      JSON.parse(text, (key, value: unknown) => {
        if (LONE_SURROGATE.test(key) || (typeof value === "string" && LONE_SURROGATE.test(value))) {
          throw new SyntaxError("lone surrogate");
        }
        return value;
      });
    } catch {
      throw new ApiError(400, "Malformed JSON in request body.");
    }
    presentJson(c, text);
    await next();
  });
