/** The FFDHE worker queue (src/net/kex.ts): bounded, refusing with busy when full, empty again afterwards. */
import { expect, test } from "bun:test";
import { initiatorKex, kexQueueDepth, warmFfdhe } from "../../src/net/kex.ts";
import { Group } from "../../src/protocol/constants.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";

test("with maxQueue 2, of 8 exchanges asked at once 2 are queued and 6 refused with busy; a priority one may use twice the bound; the queue empties", async () => {
  await warmFfdhe(Group.FFDHE2048);
  const asked = Array.from({ length: 8 }, () => initiatorKex(Group.FFDHE2048, { maxQueue: 2 }));
  const vip = initiatorKex(Group.FFDHE2048, { maxQueue: 2, priority: true });
  const got = await Promise.allSettled(asked);
  const refused = got.filter((r) => r.status === "rejected");
  expect(got.filter((r) => r.status === "fulfilled")).toHaveLength(2);
  expect(refused).toHaveLength(6);
  for (const r of refused) expect(((r as PromiseRejectedResult).reason as ProtocolError).code).toBe("busy");
  (await vip).drop();
  for (const r of got) if (r.status === "fulfilled") r.value.drop();
  expect(kexQueueDepth()).toBe(0);
}, 20_000);
