import { afterEach, describe, expect, it, vi } from "vitest";
import { memberEvent } from "../../src/members/events";
import { expiryProblem, isTimestamp, memberId, patchMemberBody } from "../../src/members/schemas";
import type { MemberRow } from "../../src/members/store";
import { sendMemberEvents } from "../../src/notify";
import { EVENT_KEYS, recordingQueue } from "../helpers";

/**
 * The pure parts of the member routes: docs/reference.md §12.1's expiry, docs/reference.md §3's member ids, and docs/reference.md §9's
 * notifications (their shape, and how they are handed to a Queue).
 */

afterEach(() => {
  vi.restoreAllMocks();
});

describe("timestamps and expiries (docs/reference.md §2, §12.1)", () => {
  const NOW = Date.UTC(2030, 0, 1);
  // biome-ignore format: a table
  const cases: [unknown, string | null][] = [
    ["2030-01-01T00:00:01Z", null],
    ["2039-12-31T23:59:59Z", null],
    ["2040-01-01T00:00:00Z", null],
    ["2040-01-01T00:00:01Z", "must be at most 10 years ahead"],
    ["2030-01-01T00:00:00Z", "must be in the future"],
    ["2029-06-01T00:00:00Z", "must be in the future"],
    ["2032-02-29T00:00:00Z", null],
    ["2031-02-29T00:00:00Z", "not a valid date"],
    ["2031-02-30T00:00:00Z", "not a valid date"],
    ["2031-13-01T00:00:00Z", "not a valid date"],
    ["2031-01-01T24:00:00Z", "not a valid date"],
    ["2031-01-01T23:60:00Z", "not a valid date"],
    ["2031-01-01T00:00:00.000Z", "must be in the form YYYY-MM-DDThh:mm:ssZ"],
    ["2031-01-01T00:00:00+00:00", "must be in the form YYYY-MM-DDThh:mm:ssZ"],
    ["2031-01-01 00:00:00Z", "must be in the form YYYY-MM-DDThh:mm:ssZ"],
    ["2031-01-01t00:00:00z", "must be in the form YYYY-MM-DDThh:mm:ssZ"],
    [" 2031-01-01T00:00:00Z", "must be in the form YYYY-MM-DDThh:mm:ssZ"],
    [1_900_000_000, "must be a string in the form YYYY-MM-DDThh:mm:ssZ"],
    [null, "must be a string in the form YYYY-MM-DDThh:mm:ssZ"],
  ];
  it.each(cases)("%j at 2030-01-01T00:00:00Z → %j", (value, problem) => {
    expect(expiryProblem(value, NOW)).toBe(problem);
  });

  it.each([
    ["2024-02-29T12:34:56Z", true],
    ["2023-02-29T12:34:56Z", false],
    ["0000-00-00T00:00:00Z", false],
    ["2024-01-01T00:00:60Z", false],
    ["2024-1-01T00:00:00Z", false],
  ])("isTimestamp(%j) is %s", (v, real) => {
    expect(isTimestamp(v)).toBe(real);
  });
});

describe("PATCH …/members/{m} bodies (docs/reference.md §12.1)", () => {
  const FORM =
    'Expected a change in the form: {"expires_at": "YYYY-MM-DDThh:mm:ssZ"} or {"expires_at": null}';
  const inAnHour = `${new Date(Date.now() + 3_600_000).toISOString().slice(0, 19)}Z`;
  // biome-ignore format: a table
  const cases: [unknown, unknown][] = [
    [{ expires_at: null }, { ok: true, expiresAt: null }],
    [{ expires_at: inAnHour }, { ok: true, expiresAt: inAnHour }],
    [{}, { ok: false, message: FORM }],
    [[{ expires_at: null }], { ok: false, message: FORM }],
    [null, { ok: false, message: FORM }],
    ["x", { ok: false, message: FORM }],
    [{ expires_at: null, status: "accepted" }, { ok: false, message: "Attribute 'status' cannot be changed: only expires_at can." }],
    [{ expires_at: "soon" }, { ok: false, message: "Invalid expires_at: must be in the form YYYY-MM-DDThh:mm:ssZ." }],
    [{ expires_at: "2000-01-01T00:00:00Z" }, { ok: false, message: "Invalid expires_at: must be in the future." }],
  ];
  it.each(cases)("%j → %j", (body, verdict) => {
    expect(patchMemberBody.parse(body)).toEqual(verdict);
  });
});

describe("member ids (docs/reference.md §3)", () => {
  // biome-ignore format: a table
  const cases: [unknown, string | null][] = [
    ["p", null],
    ["é".repeat(255), null],
    ["😀".repeat(255), null],
    ["😀".repeat(256), "Invalid member id."],
    ["a".repeat(256), "Invalid member id."],
    ["", "Member can't be empty"],
    [null, "Member can't be empty"],
    [42, "Invalid member id."],
    ["a\u0000b", "Invalid member id."],
    ["a\nb", "Invalid member id."],
    ["a\u0085b", "Invalid member id."],
    ["a b", null],
  ];
  it.each(cases)("%j → %j", (v, message) => {
    const parsed = memberId.safeParse(v);
    expect(parsed.success ? null : parsed.error.issues[0]?.message).toBe(message);
  });
});

const row = (member: string, status: MemberRow["status"] = "pending"): MemberRow => ({
  image_id: "img-1",
  member_id: member,
  status,
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-02T00:00:00Z",
  expires_at: null,
});

describe("member events (docs/reference.md §9): Glance's notification shape", () => {
  const at = new Date("2026-11-26T20:02:40.123Z");

  it("an update: oslo.messaging's timestamp, the row as payload, not deleted", () => {
    const e = memberEvent("update", row("m", "accepted"), "glance.example", at);
    expect(Object.keys(e)).toEqual(EVENT_KEYS);
    expect(e).toEqual({
      message_id: expect.stringMatching(
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      ),
      publisher_id: "image.glance.example",
      event_type: "image.member.update",
      priority: "INFO",
      timestamp: "2026-11-26 20:02:40.123000",
      payload: {
        image_id: "img-1",
        member_id: "m",
        status: "accepted",
        created_at: "2026-01-01T00:00:00Z",
        updated_at: "2026-01-02T00:00:00Z",
        deleted: false,
        deleted_at: null,
      },
    });
  });

  it("a delete carries when, to the second", () => {
    const e = memberEvent("delete", row("m"), "h", at);
    expect([e.event_type, e.payload.deleted, e.payload.deleted_at]).toEqual([
      "image.member.delete",
      true,
      "2026-11-26T20:02:40Z",
    ]);
  });

  it("every event has its own message id", () => {
    const ids = new Set(
      Array.from({ length: 20 }, () => memberEvent("create", row("m"), "h", at).message_id),
    );
    expect(ids.size).toBe(20);
  });
});

describe("sendMemberEvents: one send for one event, sendBatch in hundreds for more", () => {
  it.each([
    [0, []],
    [1, [["send", 1]]],
    [100, [["sendBatch", 100]]],
    [
      101,
      [
        ["sendBatch", 100],
        ["sendBatch", 1],
      ],
    ],
    [
      250,
      [
        ["sendBatch", 100],
        ["sendBatch", 100],
        ["sendBatch", 50],
      ],
    ],
  ] as const)("%i rows → %j", async (n, expected) => {
    const { queue, sent, calls } = recordingQueue();
    const rows = Array.from({ length: n }, (_, k) => row(`m-${k}`));
    await sendMemberEvents(queue, "h", "create", rows, "req-1");
    expect(calls.map((c) => [c.kind, c.messages.length])).toEqual(expected);
    expect(sent.map((e) => e.payload.member_id)).toEqual(rows.map((r) => r.member_id));
  });

  it("a queue that fails is logged with the request id, and the promise still resolves", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const { queue } = recordingQueue({ fail: new Error("Queue send failed") });
    await expect(sendMemberEvents(queue, "h", "delete", [row("a"), row("b")], null)).resolves.toBeUndefined();
    expect(errors.mock.calls.map((c) => JSON.parse(String(c[0])))).toEqual([
      {
        level: "error",
        msg: "could not enqueue image.member.delete for image img-1",
        request_id: null,
        detail: "Queue send failed",
      },
    ]);
  });

  it("no queue bound: nothing is attempted", async () => {
    await expect(sendMemberEvents(undefined, "h", "create", [row("a")], "req-1")).resolves.toBeUndefined();
  });
});
