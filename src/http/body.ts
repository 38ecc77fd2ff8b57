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
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * JSON bodies (SPEC §2): parsed as JSON whatever the Content-Type, at most `limit` bytes; other
 * methods than POST, PUT and PATCH must not carry one. The parsed value is handed to the zod
 * validator of the route by presenting the request as JSON, so every body still goes through
 * @hono/zod-validator.
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
    const headers = new Headers(c.req.raw.headers);
    headers.set("Content-Type", "application/json");
    c.req.raw = new Request(c.req.raw.url, { method, headers });
    // Hono caches body promises here (its type says string); json() parses this text again.
    (c.req.bodyCache as { text?: Promise<string> }).text = Promise.resolve(text);
    await next();
  });
