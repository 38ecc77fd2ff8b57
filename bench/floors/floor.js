// The floors of `npm run bench`: a Worker that does only the I/O of a glance-edge operation and
// nothing else (no routing library, no identity, no policy, no validation, no hashing), served by
// `npm run serve -- --floor PORT` beside the app, in the same workerd, with the same compatibility
// settings and the same D1 and R2 bindings (the same local database and bucket). What it does per
// request is the fastest this runtime can do the same I/O, so the app's share of it is the share
// of the time that is the app's own.
//
//   GET  /d1/read?image=ID                 one primary-key read (`first()`), the row as JSON:
//                                          the floor of member show (one round trip)
//   GET  /d1/list?image=ID                 one statement reading the image row and its member
//                                          rows, those as one JSON array column (`first()`), as
//                                          the app reads them: the floor of the member list
//   PUT  /d1/write?image=ID&member=M       one batch of two statements, the primary-key read and
//        body {"status": S}                the member row's status write (the same UPDATE of the
//                                          same row, firing the same audit trigger): the floor of
//                                          the member PUT
//   …&session=CONSTRAINT                   the same statements in a D1 session (`withSession`),
//                                          answering its bookmark in x-d1-bookmark, as every
//                                          request of the app does (docs/reference.md §13). The
//                                          local D1 commits (and fsyncs) to hand out a bookmark,
//                                          so this is the member operations' floor; without it,
//                                          what the same statements cost outside a session.
//   …&remember=KEY                          and the Cache API I/O of read-your-writes (§13): the
//                                          remembered bookmark read before the statements, and
//                                          after a write the new one stored (the app's one match
//                                          per request, one put per write of one project).
//   PUT  /r2/KEY (Content-Length)          request.body → R2 put, as is
//   PUT  /r2/KEY (chunked)                 R2 needs a known length: the body in blocks of PART
//                                          bytes (BYOB, as the app reads it) → multipart upload,
//                                          each part sent while the next is read
//   GET  /r2/KEY                           R2 get → the response, as is
//   DELETE /r2/KEY                         cleanup between runs (not measured)
const PART = 8 * 1024 * 1024; // the app's PART_SIZE (src/images/data.ts) unless ?part= says otherwise

const json = (value, status = 200) =>
  new Response(JSON.stringify(value), { status, headers: { "Content-Type": "application/json" } });

async function* blocks(body, size) {
  const reader = body.getReader({ mode: "byob" });
  for (;;) {
    const { done, value } = await reader.readAtLeast(size, new Uint8Array(size));
    if (value && value.byteLength > 0) yield value;
    if (done || !value || value.byteLength < size) return;
  }
}

async function putChunked(bucket, key, body, part) {
  let upload = null;
  const parts = [];
  for await (const block of blocks(body, part)) {
    if (upload === null && block.byteLength < part) {
      await bucket.put(key, block);
      return;
    }
    upload ??= await bucket.createMultipartUpload(key);
    await parts.at(-1);
    parts.push(upload.uploadPart(parts.length + 1, block));
  }
  if (upload === null) await bucket.put(key, new Uint8Array(0));
  else await upload.complete(await Promise.all(parts));
}

/** The answer, with the session's bookmark when the statements ran in one. */
function answer(db, value, status) {
  const response = json(value, status);
  const bookmark = db.getBookmark?.();
  if (bookmark) response.headers.set("x-d1-bookmark", bookmark);
  return response;
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const path = url.pathname;
    const session = url.searchParams.get("session");
    const remember = url.searchParams.get("remember");
    const key = `https://d1-bookmarks.glance-edge.invalid/floor-${remember}`;
    let start = session;
    if (remember !== null) {
      const hit = await caches.default.match(key);
      if (hit) start = (await hit.text()) || session;
    }
    const db = start === null ? env.DB : env.DB.withSession(start);
    if (path === "/d1/read") {
      const row = await db
        .prepare("SELECT id, owner, visibility, status FROM images WHERE id = ?1")
        .bind(url.searchParams.get("image"))
        .first();
      return row ? answer(db, row) : answer(db, { error: "no such image" }, 404);
    }
    if (path === "/d1/list") {
      const row = await db
        .prepare(
          `SELECT i.id, i.owner, i.visibility, i.status,
             (SELECT json_group_array(json_array(m.member_id, m.status, m.created_at, m.updated_at,
                 m.expires_at) ORDER BY m.created_at, m.member_id)
              FROM image_members m WHERE m.image_id = i.id) AS members
           FROM images i WHERE i.id = ?1`,
        )
        .bind(url.searchParams.get("image"))
        .first();
      return row
        ? answer(db, { ...row, members: JSON.parse(row.members) })
        : answer(db, { error: "no such image" }, 404);
    }
    if (path === "/d1/write") {
      const image = url.searchParams.get("image");
      const member = url.searchParams.get("member");
      const { status } = await request.json();
      const [read, write] = await db.batch([
        db.prepare("SELECT id, owner, visibility, status FROM images WHERE id = ?1").bind(image),
        db
          .prepare(
            `UPDATE image_members SET status = ?3, updated_at = ?4 WHERE image_id = ?1 AND member_id = ?2
           RETURNING image_id, member_id, status, created_at, updated_at`,
          )
          .bind(image, member, status, `${new Date().toISOString().slice(0, 19)}Z`),
      ]);
      const row = write.results[0];
      const bookmark = db.getBookmark?.();
      if (remember !== null && bookmark) {
        const headers = { "Cache-Control": "max-age=300" };
        await caches.default.put(key, new Response(bookmark, { headers }));
      }
      return read.results[0] && row ? answer(db, row) : answer(db, { error: "no such member" }, 404);
    }
    if (path.startsWith("/r2/")) {
      const key = decodeURIComponent(path.slice(4));
      if (request.method === "PUT") {
        if (request.headers.has("Content-Length")) await env.IMAGE_DATA.put(key, request.body);
        else
          await putChunked(env.IMAGE_DATA, key, request.body, Number(url.searchParams.get("part")) || PART);
        return new Response(null, { status: 204 });
      }
      if (request.method === "GET") {
        const object = await env.IMAGE_DATA.get(key);
        if (!object) return new Response(null, { status: 404 });
        return new Response(object.body, {
          headers: { "Content-Type": "application/octet-stream", "Content-Length": String(object.size) },
        });
      }
      if (request.method === "DELETE") {
        await env.IMAGE_DATA.delete(key);
        return new Response(null, { status: 204 });
      }
    }
    return new Response(null, { status: 404 });
  },
};
