import { env as testEnv } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { call, createImage, EVENT_KEYS, expectError, project, recordingQueue } from "../helpers";

const OSLO_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/;

afterEach(() => vi.restoreAllMocks());

describe("member notifications (docs/reference.md §9)", () => {
  it("create, update and delete each send one event in Glance's shape", async () => {
    const { queue, sent } = recordingQueue();
    const owner = project("owner");
    const member = project("member");
    const id = await createImage(owner);
    const env = { NOTIFICATIONS: queue };
    expect(
      (
        await call("POST", `/v2/images/${id}/members`, {
          who: { project: owner },
          body: { member_id: member },
          vars: env,
        })
      ).status,
    ).toBe(200);
    const put = await call("PUT", `/v2/images/${id}/members/${member}`, {
      who: { project: member },
      body: { status: "accepted" },
      vars: env,
    });
    expect(put.status).toBe(200);
    expect(
      (await call("DELETE", `/v2/images/${id}/members/${member}`, { who: { project: owner }, vars: env }))
        .status,
    ).toBe(204);

    expect(sent.map((e) => e.event_type)).toEqual([
      "image.member.create",
      "image.member.update",
      "image.member.delete",
    ]);
    for (const event of sent) {
      expect(Object.keys(event)).toEqual(EVENT_KEYS);
      expect(event.publisher_id).toBe("image.glance.test");
      expect(event.priority).toBe("INFO");
      expect(event.timestamp).toMatch(OSLO_TIME);
      expect(event.payload).toMatchObject({ image_id: id, member_id: member });
      expect(event.payload.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    }
    const [create, update, remove] = sent;
    expect(create?.payload).toMatchObject({ status: "pending", deleted: false, deleted_at: null });
    expect(update?.payload).toMatchObject({ status: "accepted", deleted: false, deleted_at: null });
    expect(remove?.payload).toMatchObject({ status: "accepted", deleted: true });
    expect(remove?.payload.deleted_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(new Set(sent.map((e) => e.message_id)).size).toBe(3);
  });

  it("re-adding over an expired membership sends its delete (as the purge would), then the create", async () => {
    const { queue, sent } = recordingQueue();
    const owner = project("owner");
    const member = project("member");
    const id = await createImage(owner);
    const env = { NOTIFICATIONS: queue };
    const add = () =>
      call("POST", `/v2/images/${id}/members`, {
        who: { project: owner },
        body: { member_id: member },
        vars: env,
      });
    expect((await add()).status).toBe(200);
    await testEnv.DB.prepare(
      "UPDATE image_members SET expires_at = '2000-01-01T00:00:00Z' WHERE image_id = ?1 AND member_id = ?2",
    )
      .bind(id, member)
      .run();
    expect((await add()).status).toBe(200);
    expect(sent.map((e) => [e.event_type, e.payload.deleted])).toEqual([
      ["image.member.create", false],
      ["image.member.delete", true],
      ["image.member.create", false],
    ]);
    expect(sent.every((e) => e.payload.image_id === id && e.payload.member_id === member)).toBe(true);
  });

  it("refused changes and reads send nothing", async () => {
    const { queue, sent } = recordingQueue();
    const owner = project("owner");
    const id = await createImage(owner);
    const env = { NOTIFICATIONS: queue };
    await call("POST", `/v2/images/${id}/members`, {
      who: { project: owner },
      body: { member_id: "m" },
      vars: env,
    });
    sent.length = 0;
    await expectError(
      await call("POST", `/v2/images/${id}/members`, {
        who: { project: owner },
        body: { member_id: "m" },
        vars: env,
      }),
      409,
      `Member m is duplicated for image ${id}`,
    );
    expect(
      (
        await call("PUT", `/v2/images/${id}/members/m`, {
          who: { project: owner },
          body: { status: "accepted" },
          vars: env,
        })
      ).status,
    ).toBe(403);
    expect(
      (await call("DELETE", `/v2/images/${id}/members/ghost`, { who: { project: owner }, vars: env })).status,
    ).toBe(404);
    expect(
      (await call("GET", `/v2/images/${id}/members`, { who: { project: owner }, vars: env })).status,
    ).toBe(200);
    expect(sent).toEqual([]);
  });

  it("a failure to enqueue never fails or undoes the call; it is logged with the request id", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const { queue } = recordingQueue({ fail: new Error("Queue send failed: internal error") });
    const owner = project("owner");
    const id = await createImage(owner);
    const res = await call("POST", `/v2/images/${id}/members`, {
      who: { project: owner },
      body: { member_id: "kept" },
      vars: { NOTIFICATIONS: queue },
    });
    expect(res.status).toBe(200);
    const requestId = res.headers.get("x-openstack-request-id");
    const show = await call("GET", `/v2/images/${id}/members/kept`, { who: { project: owner } });
    expect(show.status).toBe(200);
    const lines = errors.mock.calls.map((args) => JSON.parse(String(args[0])) as Record<string, string>);
    expect(lines).toContainEqual(
      expect.objectContaining({
        request_id: requestId,
        msg: `could not enqueue image.member.create for image ${id}`,
      }),
    );
  });

  it("without a NOTIFICATIONS binding nothing is attempted", async () => {
    const owner = project("owner");
    const id = await createImage(owner);
    expect(
      (
        await call("POST", `/v2/images/${id}/members`, {
          who: { project: owner },
          body: { member_id: "quiet" },
        })
      ).status,
    ).toBe(200);
  });
});
