// Raw HTTP exchanges for the replay: node:http rather than fetch, because fetch adds
// `Accept: */*` (and more) to every request, and the replay must be able to send no Accept at all.
import { Agent, request } from "node:http";

const agents = new Map();
function agentFor(base) {
  let agent = agents.get(base);
  if (!agent) {
    agent = new Agent({ keepAlive: true, maxSockets: 8 });
    agents.set(base, agent);
  }
  return agent;
}

export function closeAgents() {
  for (const agent of agents.values()) agent.destroy();
  agents.clear();
}

/**
 * One request; resolves to `{ status, headers, body: Buffer, ms }`, never rejects on an HTTP
 * status (only on a transport failure, after one retry for a reset keep-alive socket).
 */
export async function exchange(base, { method, path, headers = {}, body }, timeoutMs = 30_000) {
  try {
    return await once(base, method, path, headers, body, timeoutMs);
  } catch (err) {
    if (err.code !== "ECONNRESET" && err.code !== "EPIPE") throw err;
    return once(base, method, path, headers, body, timeoutMs);
  }
}

function once(base, method, path, headers, body, timeoutMs) {
  const url = new URL(path, base);
  const payload = body === undefined ? null : Buffer.isBuffer(body) ? body : Buffer.from(body);
  const all = { ...headers };
  if (payload) all["Content-Length"] = String(payload.length);
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path: url.pathname + url.search,
        headers: all,
        agent: agentFor(base),
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode,
            headers: res.headers,
            body: Buffer.concat(chunks),
            ms: Math.round(performance.now() - t0),
          }),
        );
        res.on("error", reject);
      },
    );
    req.setTimeout(timeoutMs, () =>
      req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`)),
    );
    req.on("error", reject);
    req.end(payload ?? undefined);
  });
}
