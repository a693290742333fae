/** progress.ts: one bar per transfer; a folder's bar is over all its files (PROTOCOL §11.11). */
import { describe, expect, test } from "bun:test";
import { progressLine } from "../../src/ui/progress.ts";

describe("progressLine", () => {
  test("a file: its name, the bar, the share and the bytes", () => {
    expect(progressLine({ id: "4821", direction: "receive", peer: "alice", name: "movie.mkv", size: 1000, bytes: 250 })).toBe("[4821] ↓ movie.mkv ← alice  [█████░░░░░░░░░░░░░░░]  25%  250 B/1.00 kB");
  });
  test("a folder: one bar over its total, its name marked as a folder", () => {
    expect(progressLine({ id: "4821", direction: "send", peer: "bob", name: "photos", size: 2000, bytes: 1000, files: 4 })).toBe("[4821] ↑ photos/ → bob  [██████████░░░░░░░░░░]  50%  1.00 kB/2.00 kB");
  });
});
