import { z } from "zod";

/**
 * Keyset pages of SPEC §12's listings: `limit` (default 25, at most 1000, as GET /v2/images) and
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
