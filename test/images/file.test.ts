import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { objectKey, PART_SIZE, putImageData, virtualSize } from "../../src/images/data";
import { addMember, as, call, createImage, expectError, project, type Who } from "../helpers";

/** PUT/GET /v2/images/{id}/file (docs/reference.md §8): image data streamed into R2 and back. */

const FORMATS = { disk_format: "raw", container_format: "bare" };
const MiB = 1024 * 1024;
/** A generous per-test limit for the multi-megabyte cases on a shared machine (not an assertion). */
const BIG = 60_000;

const owner = (p: string): Who => ({ project: p, roles: ["member", "reader"] });

const file = (id: string) => `/v2/images/${id}/file`;

const upload = (id: string, who: Who, body: BodyInit | null, headers: Record<string, string> = {}) =>
  call("PUT", file(id), { who, raw: body, type: "application/octet-stream", headers });

const download = (id: string, who: Who) => call("GET", file(id), { who });

/** Deterministic bytes that differ everywhere, so a misplaced or reused chunk changes the digests. */
function bytes(size: number, seed = size): Uint8Array {
  const out = new Uint8Array(size);
  let x = (seed * 2654435761 + 1) >>> 0;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** A body without a length: each chunk handed over on demand, so the request is chunked. */
function chunked(chunks: Uint8Array[], failAfter?: number): ReadableStream<Uint8Array> {
  let next = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (failAfter !== undefined && next === failAfter) {
        controller.error(new Error("client went away"));
        return;
      }
      const chunk = chunks[next++];
      if (chunk) controller.enqueue(chunk);
      else controller.close();
    },
  });
}

/** The same as a byte stream, as request bodies are: readable with a BYOB reader. */
function byteStream(chunks: Uint8Array[], failAfter: number | null): ReadableStream<Uint8Array> {
  let next = 0;
  return new ReadableStream({
    type: "bytes",
    pull(controller) {
      if (next === failAfter) {
        controller.error(new Error("client went away"));
        return;
      }
      const chunk = chunks[next++];
      if (chunk) controller.enqueue(chunk);
      else controller.close();
    },
  });
}

/** Cuts data into chunks of the given sizes, cycling through them. */
function cut(data: Uint8Array, sizes: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0, n = 0; at < data.byteLength; n++) {
    const size = sizes[n % sizes.length] ?? 1;
    out.push(data.slice(at, at + size));
    at += size;
  }
  return out;
}

/** Index of the first differing byte, -1 when equal (toStrictEqual is slow on megabytes). */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.byteLength === b.byteLength ? -1 : n;
}

const hex = (buf: ArrayBuffer) =>
  [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
/** Expected figures, computed apart from the Worker's streaming digests (one-shot WebCrypto). */
async function expected(data: Uint8Array) {
  return {
    size: data.byteLength,
    // raw (FORMATS): the data is the disk.
    virtual_size: data.byteLength,
    checksum: hex(await crypto.subtle.digest("MD5", data)),
    os_hash_algo: "sha512",
    os_hash_value: hex(await crypto.subtle.digest("SHA-512", data)),
  };
}

async function image(id: string, who: Who) {
  const res = await as(who.project ?? null, who.roles).get(`/v2/images/${id}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

async function newImage(fields: Record<string, unknown> = FORMATS) {
  const p = project("owner");
  return { p, who: owner(p), id: await createImage(p, fields) };
}

async function expectNoContent(res: Response) {
  // Read as bytes: a download's body is no text (workerd warns of .text() on it).
  const body = await res.arrayBuffer();
  expect(res.status, new TextDecoder().decode(body)).toBe(204);
  expect(body.byteLength).toBe(0);
}

/**
 * Uploads, then checks the image JSON, the stored object and the download against `data`.
 * `parts`: how many multipart parts R2 should report in the etag (0: one plain `put`).
 */
async function roundTrip(data: Uint8Array, body: BodyInit, parts = 0) {
  const { id, who } = await newImage();
  await expectNoContent(await upload(id, who, body));
  const want = await expected(data);
  const shown = await image(id, who);
  expect({
    status: shown.status,
    size: shown.size,
    virtual_size: shown.virtual_size,
    checksum: shown.checksum,
    os_hash_algo: shown.os_hash_algo,
    os_hash_value: shown.os_hash_value,
  }).toStrictEqual({ status: "active", ...want });
  const object = await env.IMAGE_DATA.head(objectKey(id));
  expect(object?.size).toBe(data.byteLength);
  expect(Number(object?.etag.match(/-(\d+)$/)?.[1] ?? 0)).toBe(parts);

  const res = await download(id, who);
  expect(res.status).toBe(200);
  expect(res.headers.get("Content-Type")).toBe("application/octet-stream");
  expect(res.headers.get("Content-Length")).toBe(String(data.byteLength));
  expect(res.headers.get("Content-MD5")).toBe(want.checksum);
  const got = new Uint8Array(await res.arrayBuffer());
  expect(got.byteLength).toBe(data.byteLength);
  expect(await expected(got)).toStrictEqual(want);
  expect(firstDifference(got, data)).toBe(-1);
  return id;
}

describe("round trip", () => {
  it("0 bytes with Content-Length: 0", async () => {
    const id = await roundTrip(new Uint8Array(0), new Uint8Array(0));
    const shown = await image(id, { project: "x", roles: ["admin"] });
    expect(shown.checksum).toBe("d41d8cd98f00b204e9800998ecf8427e");
  });

  it("1 byte", async () => {
    await roundTrip(bytes(1), bytes(1));
  });

  it("1 MiB with Content-Length", async () => {
    await roundTrip(bytes(MiB), bytes(MiB));
  });

  it("a chunked body of several uneven chunks, no Content-Length", async () => {
    const data = bytes(300_001);
    await roundTrip(data, chunked(cut(data, [1, 7, 65_536, 4096, 100_000])));
  });

  it(
    "a chunked body larger than two parts goes up in parts",
    async () => {
      const data = bytes(2 * PART_SIZE + 12_345);
      await roundTrip(data, chunked(cut(data, [1_000_003, 17, 3 * MiB])), 3);
    },
    BIG,
  );

  it(
    "a chunked body of exactly one part",
    async () => {
      const data = bytes(PART_SIZE);
      await roundTrip(data, chunked(cut(data, [MiB])), 1);
    },
    BIG,
  );

  it(
    "a known length larger than a part goes up in one put",
    async () => {
      const data = bytes(PART_SIZE + 1);
      await roundTrip(data, data);
    },
    BIG,
  );

  it("checksum and os_hash_value match RFC 1321 and FIPS 180-2 vectors", async () => {
    const vectors: [string, string][] = [
      ["", "d41d8cd98f00b204e9800998ecf8427e"],
      ["a", "0cc175b9c0f1b6a831c399e269772661"],
      ["abc", "900150983cd24fb0d6963f7d28e17f72"],
      ["message digest", "f96b697d7cb7938d525a2f31aaf161d0"],
      ["abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"],
      [
        "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
        "57edf4a22be3c955ac49da2e2107b67a",
      ],
    ];
    for (const [text, md5] of vectors) {
      const { id, who } = await newImage();
      const data = new TextEncoder().encode(text);
      // Split into single bytes so the digests are fed incrementally.
      await expectNoContent(await upload(id, who, chunked(cut(data, [1]))));
      expect((await image(id, who)).checksum, text).toBe(md5);
    }
    const { id, who } = await newImage();
    await expectNoContent(await upload(id, who, chunked(cut(new TextEncoder().encode("abc"), [1]))));
    expect((await image(id, who)).os_hash_value).toBe(
      "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    );
  });
});

describe("who may upload", () => {
  it("a member gets 403 (upload_image) and nothing changes", async () => {
    const { p, id } = await newImage();
    const member = project("member");
    await addMember(p, id, member);
    const res = await upload(id, owner(member), bytes(10));
    await expectError(res, 403, "You are not authorized to complete upload_image action.");
    expect((await image(id, owner(p))).status).toBe("queued");
    expect(await env.IMAGE_DATA.head(objectKey(id))).toBeNull();
  });

  it("anyone but the owner gets 403 on a public image", async () => {
    const adminProject = project("admin");
    const id = await createImage(adminProject, { ...FORMATS, visibility: "public" }, ["admin"]);
    const res = await upload(id, owner(project("stranger")), bytes(10));
    await expectError(res, 403, "You are not authorized to complete upload_image action.");
  });

  it("a stranger gets 404 for an image it cannot see", async () => {
    const { id } = await newImage();
    await expectError(
      await upload(id, owner(project("stranger")), bytes(10)),
      404,
      `No image found with ID ${id}`,
    );
  });

  it("an unknown or malformed id is 404", async () => {
    const id = crypto.randomUUID();
    await expectError(await upload(id, owner(project()), bytes(1)), 404, `No image found with ID ${id}`);
    await expectError(
      await upload("not-a-uuid", owner(project()), bytes(1)),
      404,
      "No image found with ID not-a-uuid",
    );
  });

  it("an admin uploads to another project's image", async () => {
    const { id, who } = await newImage();
    await expectNoContent(await upload(id, { project: project("admin"), roles: ["admin"] }, bytes(5)));
    expect((await image(id, who)).status).toBe("active");
  });

  it("a caller without a project is 401", async () => {
    const { id } = await newImage();
    const res = await upload(id, { project: null, roles: ["member"] }, bytes(1));
    expect(res.status).toBe(401);
  });
});

describe("what may be uploaded", () => {
  it("a second upload is 409", async () => {
    const { id, who } = await newImage();
    await expectNoContent(await upload(id, who, bytes(3)));
    await expectError(
      await upload(id, who, bytes(4)),
      409,
      "Image status transition from active to saving is not allowed",
    );
    expect((await image(id, who)).size).toBe(3);
  });

  it("another content type is 415", async () => {
    const { id, who } = await newImage();
    await expectError(
      await upload(id, who, bytes(3), { "Content-Type": "application/json" }),
      415,
      "Invalid content type application/json",
    );
    const bare = await call("PUT", file(id), { who, raw: bytes(3) });
    await expectError(bare, 415, "Invalid content type None");
    expect((await image(id, who)).status).toBe("queued");
  });

  it("media type parameters are allowed", async () => {
    const { id, who } = await newImage();
    const res = await upload(id, who, bytes(3), {
      "Content-Type": "application/octet-stream; charset=binary",
    });
    await expectNoContent(res);
  });

  it("disk and container formats must be set first (400, Glance's words)", async () => {
    const none = await newImage({});
    await expectError(
      await upload(none.id, none.who, bytes(3)),
      400,
      "Properties disk_format, container_format must be set prior to saving data.",
    );
    const one = await newImage({ disk_format: "qcow2" });
    await expectError(
      await upload(one.id, one.who, bytes(3)),
      400,
      "Property container_format must be set prior to saving data.",
    );
    expect((await image(one.id, one.who)).status).toBe("queued");
  });

  it("other methods are 405 with Allow: GET, PUT", async () => {
    const { id, who } = await newImage();
    for (const method of ["POST", "DELETE", "PATCH"]) {
      const res = await call(method, file(id), { who });
      await expectError(res, 405, "The method is not allowed for the requested URL.");
      expect(res.headers.get("Allow")).toBe("GET, PUT");
    }
  });
});

describe("download", () => {
  it("a member downloads; a stranger gets 404", async () => {
    const { p, id, who } = await newImage();
    const member = project("member");
    await addMember(p, id, member);
    const data = bytes(1000);
    await expectNoContent(await upload(id, who, data));
    const res = await download(id, owner(member));
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toStrictEqual(data);
    await expectError(await download(id, owner(project("stranger"))), 404, `No image found with ID ${id}`);
  });

  it("an image without data answers 204 No Content", async () => {
    const { id, who } = await newImage();
    await expectNoContent(await download(id, who));
  });

  it("HEAD gives the headers without the body", async () => {
    const { id, who } = await newImage();
    await expectNoContent(await upload(id, who, bytes(77)));
    const res = await call("HEAD", file(id), { who });
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Length")).toBe("77");
    expect(res.headers.get("Content-MD5")).toBe((await expected(bytes(77))).checksum);
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });
});

describe("failures and deletion", () => {
  it("deleting an image deletes its object", async () => {
    const { id, who } = await newImage();
    await expectNoContent(await upload(id, who, bytes(10)));
    expect(await env.IMAGE_DATA.head(objectKey(id))).not.toBeNull();
    await expectNoContent(await as(who.project ?? null).delete(`/v2/images/${id}`));
    expect(await env.IMAGE_DATA.head(objectKey(id))).toBeNull();
  });

  it("a body that breaks mid-upload leaves the image queued and no object; a retry works", async () => {
    const { id, who } = await newImage();
    // Declared 3 MiB, errors after 1 MiB. workerd's test transport hands a chunked body that
    // errors to the Worker as a clean end, so the declared length is what makes the break
    // visible here; the putImageData tests below feed it a stream that errors.
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const res = await upload(id, who, chunked(cut(bytes(3 * MiB), [MiB]), 1), {
      "Content-Length": String(3 * MiB),
    });
    await expectError(
      res,
      500,
      "The server has either erred or is incapable of performing the requested operation.",
    );
    // Logged, as every 500 is, with the request's id.
    expect(errors.mock.calls.map((c) => JSON.parse(String(c[0])))).toEqual([
      expect.objectContaining({
        level: "error",
        msg: "unexpected error; answered 500",
        request_id: res.headers.get("x-openstack-request-id"),
        method: "PUT",
        path: file(id),
      }),
    ]);
    errors.mockRestore();
    const shown = await image(id, who);
    expect([shown.status, shown.size, shown.checksum]).toStrictEqual(["queued", null, null]);
    expect((await env.IMAGE_DATA.list({ prefix: objectKey(id) })).objects).toStrictEqual([]);
    await expectNoContent(await upload(id, who, bytes(2)));
    expect((await image(id, who)).size).toBe(2);
  });

  it("while one upload runs, another is 409 and a download 204; deleting meanwhile is 410", async () => {
    const { id, who } = await newImage();
    let release: (() => void) | undefined;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const first = bytes(1000);
    let sent = false;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (!sent) {
          sent = true;
          controller.enqueue(first);
          return;
        }
        await held;
        controller.enqueue(bytes(5));
        controller.close();
      },
    });
    const running = upload(id, who, body);
    // Wait (without timing) until the upload holds the image.
    for (let i = 0; i < 1000 && (await image(id, who)).status !== "saving"; i++) {
      await new Promise((r) => setTimeout(r, 0));
    }
    expect((await image(id, who)).status).toBe("saving");
    await expectError(
      await upload(id, who, bytes(1)),
      409,
      "Image status transition from saving to saving is not allowed",
    );
    await expectNoContent(await download(id, who));
    await expectNoContent(await as(who.project ?? null).delete(`/v2/images/${id}`));
    release?.();
    const res = await running;
    expect(res.status).toBe(410);
    expect(await res.json()).toStrictEqual({
      message: `Image ${id} could not be found after upload. The image may have been deleted during the upload, cleaning up the chunks uploaded.`,
      code: "410 Gone",
      title: "Gone",
    });
    expect(await env.IMAGE_DATA.head(objectKey(id))).toBeNull();
  });
});

describe("putImageData", () => {
  for (const [label, failAfter] of [
    ["before any part went up", 3],
    ["after a part went up", PART_SIZE / MiB + 1],
  ] as const) {
    it(
      `a chunked stream that errors ${label} rejects and leaves no object`,
      async () => {
        const id = crypto.randomUUID();
        const body = chunked(cut(bytes((failAfter + 2) * MiB), [MiB]), failAfter);
        await expect(putImageData(env.IMAGE_DATA, id, body, null, "raw")).rejects.toThrow("client went away");
        expect((await env.IMAGE_DATA.list({ prefix: objectKey(id) })).objects).toStrictEqual([]);
      },
      BIG,
    );
  }

  it(
    "a byte stream (read with BYOB) gives the same figures and object as the bytes",
    async () => {
      const id = crypto.randomUUID();
      const data = bytes(PART_SIZE + 3 * MiB + 5);
      const figures = await putImageData(
        env.IMAGE_DATA,
        id,
        byteStream(cut(data, [MiB - 1, 77]), null),
        null,
        "raw",
      );
      expect(figures).toStrictEqual(await expected(data));
      const object = await env.IMAGE_DATA.get(objectKey(id));
      expect(object?.size).toBe(data.byteLength);
      expect(firstDifference(new Uint8Array((await object?.arrayBuffer()) ?? new ArrayBuffer(0)), data)).toBe(
        -1,
      );
    },
    BIG,
  );

  it(
    "a byte stream that errors after a part went up rejects and leaves no object",
    async () => {
      const id = crypto.randomUUID();
      const body = byteStream(cut(bytes(PART_SIZE + 3 * MiB), [MiB]), PART_SIZE / MiB + 1);
      await expect(putImageData(env.IMAGE_DATA, id, body, null, "raw")).rejects.toThrow("client went away");
      expect((await env.IMAGE_DATA.list({ prefix: objectKey(id) })).objects).toStrictEqual([]);
    },
    BIG,
  );

  it("with a known length the checksum is the store's MD5 of what it stored, read back if the store does not say", async () => {
    const data = bytes(3 * MiB + 1);
    const want = await expected(data);
    const known = crypto.randomUUID();
    expect(
      await putImageData(env.IMAGE_DATA, known, byteStream(cut(data, [MiB]), null), data.byteLength, "raw"),
    ).toStrictEqual(want);
    // A bucket whose put answers no MD5 (R2 gives none for some objects): the object is read back.
    const silent = new Proxy(env.IMAGE_DATA, {
      get(target, name) {
        if (name !== "put") return Reflect.get(target, name).bind(target);
        return async (...args: Parameters<R2Bucket["put"]>) => {
          const stored = await target.put(...args);
          return stored && { size: stored.size, checksums: {} };
        };
      },
    });
    const unknown = crypto.randomUUID();
    expect(
      await putImageData(silent, unknown, byteStream(cut(data, [MiB]), null), data.byteLength, "raw"),
    ).toStrictEqual(want);
  });

  it("a stream of known length that errors rejects and leaves no object", async () => {
    const id = crypto.randomUUID();
    const body = chunked(cut(bytes(3 * MiB), [MiB]), 2);
    await expect(putImageData(env.IMAGE_DATA, id, body, 3 * MiB, "raw")).rejects.toThrow("client went away");
    expect((await env.IMAGE_DATA.list({ prefix: objectKey(id) })).objects).toStrictEqual([]);
  });
});

describe("virtual_size (Glance's format inspector)", () => {
  it("raw: the size; qcow2: its header's size; a bad header or another format: unknown", () => {
    const qcow2 = new Uint8Array(64);
    const view = new DataView(qcow2.buffer);
    view.setUint32(0, 0x514649fb);
    view.setUint32(4, 3);
    view.setBigUint64(24, 10n * 1024n ** 3n);
    expect(virtualSize("raw", 77, new Uint8Array(0))).toBe(77);
    expect(virtualSize("qcow2", 64, qcow2.subarray(0, 32))).toBe(10 * 1024 ** 3);
    expect(virtualSize("qcow2", 64, new Uint8Array(32))).toBeNull();
    expect(virtualSize("qcow2", 16, qcow2.subarray(0, 16))).toBeNull();
    expect(virtualSize("vmdk", 64, qcow2.subarray(0, 32))).toBeNull();
    expect(virtualSize(null, 64, qcow2.subarray(0, 32))).toBeNull();
  });

  it("an uploaded qcow2 shows the virtual size of its header", async () => {
    const { id, who } = await newImage({ disk_format: "qcow2", container_format: "bare" });
    const data = new Uint8Array(4096);
    const view = new DataView(data.buffer);
    view.setUint32(0, 0x514649fb);
    view.setBigUint64(24, 1073741824n);
    await expectNoContent(await upload(id, who, data));
    expect((await image(id, who)).virtual_size).toBe(1073741824);
  });
});
