import { z } from "zod";
import { ApiError, INVALID_MARKER } from "./errors";

/**
 * Keyset pages of docs/reference.md §12's listings: `limit` (default 25, at most 1000, as GET /v2/images) and
 * an opaque `marker`, the sort key of the page's last row. Pure.
 */
export const DEFAULT_LIMIT = 25;
export const MAX_LIMIT = 1000;

export const limitParam = z
  .string({ error: "Parameter limit must be given once." })
  .regex(/^\d{1,15}$/, "limit param must be an integer")
  .transform((v) => Math.min(Number(v), MAX_LIMIT))
  .optional();

export const markerParam = z.string({ error: "Parameter marker must be given once." }).optional();

/** A marker: the key as base64url JSON, so clients treat it as opaque. */
export function encodeMarker(key: readonly (string | number)[]): string {
  const bytes = new TextEncoder().encode(JSON.stringify(key));
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The key of a marker of `shape` (a type per position), or null when it is not one of ours. */
export function decodeMarker(
  marker: string,
  shape: readonly ("string" | "number")[],
): (string | number)[] | null {
  if (!/^[A-Za-z0-9_-]{1,2048}$/.test(marker)) return null;
  try {
    const bin = atob(marker.replace(/-/g, "+").replace(/_/g, "/"));
    const bytes = Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
    const key: unknown = JSON.parse(
      new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes),
    );
    if (!Array.isArray(key) || key.length !== shape.length) return null;
    for (const [n, type] of shape.entries()) {
      const v: unknown = key[n];
      if (type === "number" ? !Number.isSafeInteger(v) : typeof v !== "string") return null;
    }
    return key as (string | number)[];
  } catch {
    return null;
  }
}

type Shape = readonly ("string" | "number")[];
type Key<S extends Shape> = { -readonly [K in keyof S]: S[K] extends "number" ? number : string };

/** The key a marker of `shape` stands for: null without one, 400 when it is not one of ours. */
export function markerKey<const S extends Shape>(marker: string | undefined, shape: S): Key<S> | null {
  if (marker === undefined) return null;
  const key = decodeMarker(marker, shape);
  if (!key) throw new ApiError(400, INVALID_MARKER);
  return key as Key<S>;
}

/**
 * Glance's first/next links: the query as sent without marker, then marker=<last>. Also the
 * links of docs/reference.md §12's listings, under their own path.
 */
export function pageLinks(
  url: URL,
  lastId: string | null,
  path = "/v2/images",
): { first: string; next?: string } {
  const params = new URLSearchParams(url.search);
  params.delete("marker");
  const query = params.toString();
  const first = query ? `${path}?${query}` : path;
  if (lastId === null) return { first };
  params.append("marker", lastId);
  return { first, next: `${path}?${params.toString()}` };
}

/** The links of a keyset page: `next` only after a full page, its marker the last row's key. */
export function keysetLinks<R>(
  url: URL,
  path: string,
  rows: readonly R[],
  limit: number,
  keyOf: (row: R) => readonly (string | number)[],
): { first: string; next?: string } {
  const last = rows.length > 0 && rows.length === limit ? rows.at(-1) : undefined;
  return pageLinks(url, last ? encodeMarker(keyOf(last)) : null, path);
}
