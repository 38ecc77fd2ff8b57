import { detailOf, log } from "../log";
import type { StoredData } from "./file-store";

/**
 * Image data in R2 (docs/reference.md §8): streamed in, counted and hashed on the way, never held whole.
 *
 * The body is read in blocks rather than in the runtime's 4 KiB chunks (one JS round per 4 KiB
 * capped an upload near 13 MB/s locally): with a BYOB reader, `readAtLeast` fills a whole block
 * in one call. Each block is hashed (SHA-512 for `os_hash_value`, and MD5 for Glance's `checksum`
 * where R2 does not compute it, both with crypto.DigestStream) and passed on.
 *
 * R2 stores a stream only when its length is known up front. With Content-Length the blocks go
 * through a FixedLengthStream into one `put`, and the MD5 is the one R2 computed of what it
 * stored (`checksums.md5` of a single put; read back and hashed should R2 not give it), which
 * spares the Worker's CPU one of its two hashes (a few percent of an upload). A chunked body has
 * no length: its blocks are the parts of a multipart upload (PART_SIZE each but the last: R2 wants
 * at least 5 MiB, all parts but the last of one size), each sent while the next one is read, so
 * at most two are in memory; a body shorter than one part becomes one `put`. A multipart object
 * has no MD5 of the whole in R2, so the Worker hashes those bodies itself. Either way the object
 * appears only when complete: a failed `put` stores nothing and a failed multipart upload is
 * aborted.
 */

export const PART_SIZE = 8 * 1024 * 1024;
/** Blocks of a body of known length: few JS rounds, little memory. */
const BLOCK_SIZE = 1024 * 1024;
/** Above this a known length goes multipart too (R2's single `put` stops just short of 5 GiB). */
const SINGLE_PUT_MAX = 5 * 1024 ** 3 - 5 * 1024 ** 2;

const META = { httpMetadata: { contentType: "application/octet-stream" } };

/** One object per image, named after it. */
export const objectKey = (imageId: string) => `images/${imageId}`;

const hex = (buf: ArrayBuffer) =>
  [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");

/** qcow2's header: magic `QFI\xfb`, then the virtual size as a big-endian uint64 at byte 24. */
const QCOW2_MAGIC = 0x514649fb;
const HEAD_BYTES = 32;

/**
 * Glance's format inspector, for the formats whose size it reads without more than the first
 * bytes: raw (the data is the disk) and qcow2 (its header). Others: unknown (null), as Glance
 * leaves them when its inspector cannot tell.
 */
export function virtualSize(diskFormat: string | null, size: number, head: Uint8Array): number | null {
  if (diskFormat === "raw") return size;
  if (diskFormat === "qcow2" && head.byteLength >= HEAD_BYTES) {
    const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
    if (view.getUint32(0) !== QCOW2_MAGIC) return null;
    const v = view.getBigUint64(24);
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : null;
  }
  return null;
}

/**
 * Size, SHA-512, virtual size and, when `withMd5`, MD5 of the bytes given to `add`, in order.
 * Without it, `figures` takes the MD5 the store computed.
 */
function measuring(diskFormat: string | null, withMd5: boolean) {
  const sha512 = new crypto.DigestStream("SHA-512");
  const md5 = withMd5 ? new crypto.DigestStream("MD5") : null;
  const writers = [sha512.getWriter(), ...(md5 ? [md5.getWriter()] : [])];
  let size = 0;
  const head = new Uint8Array(HEAD_BYTES);
  return {
    async add(block: Uint8Array) {
      if (size < HEAD_BYTES) head.set(block.subarray(0, HEAD_BYTES - size), size);
      size += block.byteLength;
      await Promise.all(writers.map((w) => w.write(block)));
    },
    async figures(storedMd5?: ArrayBuffer): Promise<StoredData> {
      await Promise.all(writers.map((w) => w.close()));
      const checksum = md5 ? await md5.digest : storedMd5;
      if (checksum === undefined) throw new Error("no MD5: neither hashed nor given by the store");
      return {
        size,
        virtual_size: virtualSize(diskFormat, size, head.subarray(0, Math.min(size, HEAD_BYTES))),
        checksum: hex(checksum),
        os_hash_algo: "sha512",
        os_hash_value: hex(await sha512.digest),
      };
    },
  };
}

/**
 * The body in blocks of exactly `size` bytes but the last, which is shorter (possibly absent):
 * a short block always means the end. Request bodies are byte streams, read with BYOB into
 * `buffers` memory blocks taken in turn, so a block's memory is read into again `buffers` blocks
 * later: the consumer must be done with a block by then (awaited its writes). Reusing them spares
 * the allocation and zeroing of a block per read, a few percent of an upload's CPU here. Other
 * streams are copied together chunk by chunk into new blocks.
 */
async function* blocks(
  body: ReadableStream<Uint8Array>,
  size: number,
  buffers: number,
): AsyncGenerator<Uint8Array> {
  let byob: ReadableStreamBYOBReader | null = null;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch {
    // Not a byte stream.
  }
  if (byob !== null) {
    // A BYOB read takes its buffer over (detaches it) and hands it back in `value`.
    const pool: ArrayBuffer[] = [];
    try {
      for (let n = 0; ; n++) {
        const memory = pool[n % buffers] ?? new ArrayBuffer(size);
        const { done, value } = await byob.readAtLeast(size, new Uint8Array(memory));
        if (value) pool[n % buffers] = value.buffer;
        if (value && value.byteLength > 0) yield value;
        if (done || !value || value.byteLength < size) return;
      }
    } finally {
      await byob.cancel().catch(() => {});
    }
  }
  const reader = body.getReader();
  try {
    let block = new Uint8Array(size);
    let filled = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (let at = 0; at < value.byteLength; ) {
        const n = Math.min(size - filled, value.byteLength - at);
        block.set(value.subarray(at, at + n), filled);
        filled += n;
        at += n;
        if (filled === size) {
          yield block;
          block = new Uint8Array(size);
          filled = 0;
        }
      }
    }
    if (filled > 0) yield block.subarray(0, filled);
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/**
 * Stores a request body as the image's object and answers its figures. `length` is the declared
 * Content-Length (null when chunked). Throws when the body breaks or R2 refuses, leaving no object.
 */
export async function putImageData(
  bucket: R2Bucket,
  imageId: string,
  body: ReadableStream<Uint8Array> | null,
  length: number | null,
  diskFormat: string | null,
): Promise<StoredData> {
  const key = objectKey(imageId);
  const source = body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
  if (length !== null && length <= SINGLE_PUT_MAX) {
    const measure = measuring(diskFormat, false);
    // Each block is hashed and written (awaited) before the next is read: one buffer.
    const stored = await putWhole(bucket, key, blocks(source, BLOCK_SIZE, 1), length, measure.add);
    return measure.figures(stored.checksums.md5 ?? (await md5Of(bucket, key)));
  }
  const measure = measuring(diskFormat, true);
  // A part is in flight while the next is read, and done before the one after: two buffers.
  await putInParts(bucket, key, blocks(source, PART_SIZE, 2), measure.add);
  return measure.figures();
}

/** The MD5 of a stored object, read back: for a store that did not say it on `put`. */
async function md5Of(bucket: R2Bucket, key: string): Promise<ArrayBuffer> {
  const object = await bucket.get(key);
  if (!object) throw new Error(`${key} vanished right after its put`);
  const md5 = new crypto.DigestStream("MD5");
  await object.body.pipeTo(md5);
  return md5.digest;
}

type Blocks = AsyncGenerator<Uint8Array>;

async function putWhole(
  bucket: R2Bucket,
  key: string,
  source: Blocks,
  length: number,
  seen: (b: Uint8Array) => Promise<void>,
): Promise<R2Object> {
  const fixed = new FixedLengthStream(length);
  const writer = fixed.writable.getWriter();
  const feed = async () => {
    try {
      for await (const block of source) {
        await seen(block);
        await writer.write(block);
      }
      await writer.close();
    } catch (err) {
      // Fails the `put` too, so nothing is stored.
      await writer.abort(err).catch(() => {});
      throw err;
    }
  };
  const [, stored] = await Promise.all([feed(), bucket.put(key, fixed.readable, META)]);
  if (!stored) throw new Error(`R2 did not store ${key}`); // only an onlyIf condition says null
  return stored;
}

async function putInParts(
  bucket: R2Bucket,
  key: string,
  source: Blocks,
  seen: (b: Uint8Array) => Promise<void>,
) {
  let upload: R2MultipartUpload | null = null;
  const parts: Promise<R2UploadedPart>[] = [];
  try {
    for await (const block of source) {
      await seen(block);
      if (upload === null && block.byteLength < PART_SIZE) {
        // The whole body in less than one part.
        await bucket.put(key, block, META);
        return;
      }
      upload ??= await bucket.createMultipartUpload(key, META);
      // One part in flight while the next one is read; its failure surfaces when awaited.
      await parts.at(-1);
      const sent = upload.uploadPart(parts.length + 1, block);
      sent.catch(() => {});
      parts.push(sent);
    }
    if (upload === null) {
      await bucket.put(key, new Uint8Array(0), META);
      return;
    }
    await upload.complete(await Promise.all(parts));
  } catch (err) {
    await upload?.abort().catch(() => {});
    throw err;
  }
}

/** The object's size and body (none for HEAD); null when there is no object. */
export async function getImageData(
  bucket: R2Bucket,
  imageId: string,
  head: boolean,
): Promise<{ size: number; body: ReadableStream | null } | null> {
  const key = objectKey(imageId);
  if (head) {
    const object = await bucket.head(key);
    return object && { size: object.size, body: null };
  }
  const object = await bucket.get(key);
  return object && { size: object.size, body: object.body };
}

/**
 * Removes the image's object once its row is gone. Never throws: the image is already deleted,
 * so a failure is logged with the key rather than answered as a failed delete. A leftover object
 * is never served, because only a new upload makes an image with that id active again, and that
 * upload overwrites it.
 */
export async function discardImageData(bucket: R2Bucket, imageId: string, requestId: string): Promise<void> {
  try {
    await bucket.delete(objectKey(imageId));
  } catch (err) {
    log.error(`image data ${objectKey(imageId)} could not be deleted; remove it by hand`, {
      request_id: requestId,
      detail: detailOf(err),
    });
  }
}
