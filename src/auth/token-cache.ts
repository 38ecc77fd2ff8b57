/** Building blocks of the Keystone token cache: a hash for keys, a bounded LRU, shared in-flight work. */

/** Hex SHA-256: cache keys are derived from tokens so that no cache ever holds a token in clear. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A bounded least-recently-used map whose entries also expire at a given time (ms). */
export class ExpiringLru<V> {
  readonly #entries = new Map<string, { value: V; until: number }>();

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.#entries.size;
  }

  get(key: string, now: number): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    if (entry.until <= now) return undefined;
    // Re-inserting moves the key to the young end of the Map's insertion order.
    this.#entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V, until: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, { value, until });
    while (this.#entries.size > this.capacity) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }
}

const TIMED_OUT = Symbol("timed out");

/**
 * Concurrent callers asking for the same key share one piece of work. A joiner waits at most
 * `joinTimeoutMs` and then does the work itself: on Workers, a promise started by a request that
 * gets cancelled (client gone) may never settle, and a joiner must not hang on it forever.
 */
export class InFlight<T> {
  readonly #running = new Map<string, Promise<T>>();

  constructor(readonly joinTimeoutMs: number) {}

  get size(): number {
    return this.#running.size;
  }

  async run(key: string, work: () => Promise<T>): Promise<T> {
    const running = this.#running.get(key);
    if (running !== undefined) {
      const outcome = await settleWithin(running, this.joinTimeoutMs);
      if (outcome !== TIMED_OUT) return outcome;
      if (this.#running.get(key) === running) this.#running.delete(key);
      return this.run(key, work);
    }
    const mine = work();
    this.#running.set(key, mine);
    try {
      return await mine;
    } finally {
      if (this.#running.get(key) === mine) this.#running.delete(key);
    }
  }
}

async function settleWithin<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
