import { ApiError, UNAUTHORIZED } from "../http/errors";
import { type Caller, makeCaller } from "./caller";
import type { IdentityStrategy } from "./strategy";

function first(headers: Headers, ...names: string[]): string | null {
  for (const name of names) {
    const value = headers.get(name);
    if (value !== null && value.trim() !== "") return value.trim();
  }
  return null;
}

/**
 * Identity from the headers keystonemiddleware would produce, trusted as they are: only for
 * local development, tests, or behind a gateway that authenticated the caller and strips these
 * headers from clients.
 */
export const trustedHeaders: IdentityStrategy = {
  name: "trusted-headers",
  async identify(request: Request): Promise<Caller> {
    const h = request.headers;
    if (h.get("X-Identity-Status") !== "Confirmed") throw new ApiError(401, UNAUTHORIZED);
    const roles = first(h, "X-Roles", "X-Role");
    return makeCaller(
      first(h, "X-Project-Id", "X-Tenant-Id", "X-Tenant"),
      first(h, "X-User-Id", "X-User"),
      roles ? roles.split(",") : [],
      {
        project: first(h, "X-Project-Domain-Id"),
        user: first(h, "X-User-Domain-Id"),
        // keystonemiddleware's headers for system- and domain-scoped tokens.
        scope:
          first(h, "X-System-Scope") === "all" ? "system" : first(h, "X-Domain-Id") ? "domain" : "project",
      },
    );
  },
};
