import { describe, expect, it } from "vitest";
import { ExpiringLru, InFlight, sha256Hex } from "../../src/auth/token-cache";

describe("sha256Hex", () => {
  it("is the lower-case hex SHA-256 of the text", async () => {
    expect(await sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });
});

describe("ExpiringLru", () => {
  it("forgets an entry at its expiry time", () => {
    const lru = new ExpiringLru<string>(10);
    lru.set("a", "A", 1000);
    expect(lru.get("a", 999)).toBe("A");
    expect(lru.get("a", 1000)).toBeUndefined();
    expect(lru.size).toBe(0);
  });

  it("holds at most `capacity` entries, evicting the least recently used", () => {
    const lru = new ExpiringLru<string>(2);
    lru.set("a", "A", 10_000);
    lru.set("b", "B", 10_000);
    expect(lru.get("a", 0)).toBe("A"); // a is now the most recently used
    lru.set("c", "C", 10_000);
    expect(lru.size).toBe(2);
    expect(lru.get("b", 0)).toBeUndefined();
    expect(lru.get("a", 0)).toBe("A");
    expect(lru.get("c", 0)).toBe("C");
  });

  it("replaces an entry set twice without growing", () => {
    const lru = new ExpiringLru<string>(2);
    lru.set("a", "A1", 10);
    lru.set("a", "A2", 20);
    expect(lru.size).toBe(1);
    expect(lru.get("a", 15)).toBe("A2");
  });
});

describe("InFlight", () => {
  it("runs the work once for concurrent callers of one key, and again once it settled", async () => {
    const shared = new InFlight<number>(1000);
    let runs = 0;
    let release: (n: number) => void = () => {};
    const work = () => {
      runs++;
      return new Promise<number>((resolve) => {
        release = resolve;
      });
    };
    const first = shared.run("k", work);
    const second = shared.run("k", work);
    release(7);
    expect(await Promise.all([first, second])).toEqual([7, 7]);
    expect(runs).toBe(1);
    expect(shared.size).toBe(0);
    await shared.run("k", async () => {
      runs++;
      return 8;
    });
    expect(runs).toBe(2);
  });

  it("shares a failure with every joiner and then forgets it", async () => {
    const shared = new InFlight<number>(1000);
    let fail: (e: Error) => void = () => {};
    const work = () =>
      new Promise<number>((_, reject) => {
        fail = reject;
      });
    const first = shared.run("k", work);
    const second = shared.run("k", work);
    fail(new Error("down"));
    await expect(first).rejects.toThrow("down");
    await expect(second).rejects.toThrow("down");
    expect(shared.size).toBe(0);
  });

  it("keeps keys apart", async () => {
    const shared = new InFlight<string>(1000);
    const [a, b] = await Promise.all([shared.run("a", async () => "A"), shared.run("b", async () => "B")]);
    expect([a, b]).toEqual(["A", "B"]);
  });

  it("stops waiting for work that never settles and does it itself", async () => {
    const shared = new InFlight<string>(20);
    void shared.run("k", () => new Promise<string>(() => {}));
    expect(await shared.run("k", async () => "own")).toBe("own");
    expect(shared.size).toBe(0);
  });
});
