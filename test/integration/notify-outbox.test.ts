/**
 * The notifications outbox on the real blob store (Azurite): created once per event id, replaced only
 * at the version read, listed while a channel is open, and racing deliverers that never both send.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientFactory } from "../../src/azure/clients.ts";
import type { NotificationEvent } from "../../src/core/notification.ts";
import { startAzuriteBlob, type AzuriteBlob } from "../../src/local/azurite.ts";
import { deliverDue, enqueue, type DeliveryDeps } from "../../src/notify/delivery.ts";
import { BlobOutbox, type OutboxRecord, type PlanChannel } from "../../src/notify/outbox.ts";
import type { ChannelTransport, HttpAnswer } from "../../src/notify/transport.ts";

let azurite: AzuriteBlob;
beforeAll(async () => {
  azurite = await startAzuriteBlob();
});
afterAll(async () => {
  await azurite?.stop();
});

/** A fresh container per test: the outbox creates it on first use. */
const outbox = () => new BlobOutbox(new ClientFactory({ target: { kind: "azure", cloud: "AzurePublicCloud" }, blobStore: { connectionString: azurite.connectionString } }).blobService().getContainerClient(`outbox-${randomUUID().slice(0, 8)}`));

const event = (id: string): NotificationEvent => ({ id, kind: "approval-needed", severity: "critical", at: "2026-12-03T10:00:00.000Z", plan: "nw", title: "nw: approval needed", text: "approve or abort", facts: [], actions: [], links: [] });
const slack: PlanChannel = { name: "ops-slack", kind: "slack", urlSetting: "SLACK_URL" };
const record = (id: string): OutboxRecord => ({ version: 1, event: event(id), createdAt: "2026-12-03T10:00:00.000Z", channels: { "ops-slack": { channel: slack, state: "pending", attempts: 0 } } });

describe("the notifications outbox on Azurite", () => {
  it("keeps an event once: a second create of its id is refused and changes nothing", async () => {
    const box = outbox();
    expect(await box.create(record("nw.1.approval-needed"))).toBe(true);
    const changed = { ...record("nw.1.approval-needed"), createdAt: "2030-01-01T00:00:00.000Z" };
    expect(await box.create(changed)).toBe(false);
    expect((await box.get("nw.1.approval-needed"))!.record.createdAt).toBe("2026-12-03T10:00:00.000Z");
    expect(await box.open()).toEqual(["nw.1.approval-needed"]);
  });

  it("replaces a record only at the version read (If-Match), and lists an event until it is settled", async () => {
    const box = outbox();
    await box.create(record("nw.2.run-finished"));
    const read = (await box.get("nw.2.run-finished"))!;
    const first = await box.replace({ ...read.record, createdAt: "2026-12-03T10:00:01.000Z" }, read.etag);
    const stale = await box.replace({ ...read.record, createdAt: "2026-12-03T10:00:02.000Z" }, read.etag);
    expect(first).toBeDefined();
    expect(stale).toBeUndefined();
    await box.settle("nw.2.run-finished");
    expect(await box.open()).toEqual([]);
    expect(await box.get("nw.2.run-finished")).toBeDefined();
  });

  it("refuses an id that is not an event id before touching the store", async () => {
    await expect(outbox().get("../lag/nw.json")).rejects.toThrow(/not a notification event id/);
  });

  it("two deliverers racing on one event send each channel once", async () => {
    const box = outbox();
    const sent: string[] = [];
    const transport: ChannelTransport = {
      post: async (d): Promise<HttpAnswer> => {
        sent.push(d.url);
        return { status: 200, text: "ok" };
      },
      beginEmail: () => Promise.reject(new Error("no email here")),
      pollEmail: () => Promise.reject(new Error("no email here")),
    };
    const deps: DeliveryDeps = { outbox: box, transport, setting: () => "https://hooks.slack.com/services/T000/B000/RaceTokenKnown42", clock: () => new Date("2026-12-03T10:00:00.000Z"), log: { info: () => {}, warn: () => {}, error: () => {} } };
    await enqueue(event("nw.3.approval-needed"), [slack], deps);

    const reports = await Promise.all(Array.from({ length: 6 }, () => deliverDue("nw.3.approval-needed", deps).catch((e: Error) => e)));

    expect(sent).toHaveLength(1);
    expect(reports.filter((r) => r instanceof Error)).toEqual([]);
    expect((await box.get("nw.3.approval-needed"))!.record.channels["ops-slack"]!.state).toBe("delivered");
    expect(await box.open()).toEqual([]);
  });
});
