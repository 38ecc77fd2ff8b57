// `npm run serve`'s lean local D1: see lean-d1.worker.js for what it is and serve.mjs for its use.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Replaces, in the workerd services Miniflare's D1 plugin generates, the entry worker the bindings'
 * fetchers point at ("d1:db:entry") by the lean one, which also hosts the database object, and drops
 * Miniflare's object worker ("d1:db"). The lean object keeps Miniflare's class name, unique key and
 * storage service, so `idFromName(<database id>)` opens the same <persist>/v3/d1/<key>/<hash>.sqlite.
 */
export function useLeanD1(plugin) {
  const generate = plugin.getServices;
  plugin.getServices = async (...args) => {
    const services = await generate.apply(plugin, args);
    const entry = services.find((s) => s.name === "d1:db:entry");
    const object = services.find((s) => s.name === "d1:db");
    if (entry === undefined && object === undefined) return services; // no local D1
    const namespaces = object?.worker?.durableObjectNamespaces;
    if (
      entry === undefined ||
      namespaces?.length !== 1 ||
      namespaces[0].className !== "D1DatabaseObject" ||
      object.worker.durableObjectStorage?.localDisk === undefined
    ) {
      throw new Error("serve: unexpected Miniflare D1 services (Miniflare changed?); use --d1 miniflare");
    }
    entry.worker = {
      compatibilityDate: "2025-09-01",
      // Keeps the D1_ERROR name of errors thrown over RPC, as Miniflare's entry worker does.
      compatibilityFlags: ["enhanced_error_serialization"],
      modules: [
        { name: "lean-d1.worker.js", esModule: readFileSync(join(here, "lean-d1.worker.js"), "utf8") },
      ],
      durableObjectNamespaces: [{ ...namespaces[0], enableSql: true }],
      durableObjectStorage: object.worker.durableObjectStorage,
      bindings: [{ name: "MINIFLARE_OBJECT", durableObjectNamespace: { className: "D1DatabaseObject" } }],
    };
    return services.filter((s) => s !== object);
  };
}
