/**
 * The direction of imports (docs/ARCHITECTURE.md), checked on the source itself:
 *
 *   cli → ui → chat → net → protocol → crypto      (text/ is shared by chat, ui and cli)
 *
 *   1. every relative import in src/ (static, `export … from`, dynamic, and worker URLs,
 *      type-only ones included) is read into a graph of files;
 *   2. each folder may import only the folders its layer allows;
 *   3. the concerns inside src/chat/ (trust/, delivery/, files/) never import each other;
 *      the node-level modules in src/chat/node/ are the shared layer above them, used by
 *      node.ts (the wiring) alone;
 *   4. the graph has no cycle.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { findCycles } from "./support/cycles.ts";

const SRC = resolve(import.meta.dir, "../src");

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []));
}

const SPEC = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|new URL\(\s*)["'](\.{1,2}\/[^"']+)["']/g;

/** file (relative to src/) → the files (relative to src/) it imports. */
function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const f of files(SRC)) {
    const text = readFileSync(f, "utf8");
    // Only files inside src/ count (cli/main.ts reads ../package.json for its version).
    const deps = [...text.matchAll(SPEC)].map((m) => relative(SRC, resolve(dirname(f), m[1]!))).filter((d) => !d.startsWith(".."));
    g.set(relative(SRC, f), [...new Set(deps)]);
  }
  return g;
}

/** The layer of a file: its first folder, or chat/<concern> for the chat's concerns. */
function area(file: string): string {
  const parts = file.split("/");
  if (parts[0] === "chat" && parts.length > 2) return `chat/${parts[1]}`;
  return parts[0]!;
}

/** The chat's shared modules, which import nothing of the chat: the concerns may use them. */
const SHARED = ["chat/events.ts", "chat/explain.ts", "chat/peer-id.ts"];

/** What each layer may import (besides itself). */
const ALLOWED: Record<string, string[]> = {
  crypto: [],
  protocol: ["crypto"],
  net: ["protocol", "crypto"],
  text: ["protocol", "crypto"],
  chat: ["chat/node", "chat/trust", "chat/delivery", "chat/files", "net", "protocol", "crypto", "text"],
  "chat/node": ["chat", "chat/trust", "chat/delivery", "chat/files", "net", "protocol", "crypto", "text"],
  "chat/trust": ["chat", "net", "protocol", "crypto", "text"],
  "chat/delivery": ["chat", "net", "protocol", "crypto", "text"],
  "chat/files": ["chat", "net", "protocol", "crypto", "text"],
  ui: ["chat", "chat/trust", "chat/delivery", "chat/files", "net", "protocol", "crypto", "text"],
  cli: ["ui", "chat", "chat/trust", "chat/delivery", "chat/files", "net", "protocol", "crypto", "text"],
};

describe("architecture", () => {
  const g = graph();

  test("the graph was read (every src/ file, with its imports)", () => {
    expect(g.size).toBeGreaterThan(40);
    expect(g.get("chat/node.ts")).toContain("net/peer.ts");
  });

  test("each layer imports only the layers below it; nothing below ui/ imports ui/ or cli/", () => {
    const bad: string[] = [];
    for (const [file, deps] of g) {
      const from = area(file);
      for (const d of deps) {
        const to = area(d);
        if (to === from) continue;
        // A chat concern may use the chat's shared modules (events, wording of failures), not node.ts.
        if (to === "chat" && from.startsWith("chat/") && !SHARED.includes(d)) bad.push(`${file} → ${d}`);
        else if (!(ALLOWED[from] ?? []).includes(to)) bad.push(`${file} → ${d}`);
      }
    }
    expect(bad).toEqual([]);
  });

  test("the chat's shared modules import no other part of the chat", () => {
    const bad = SHARED.flatMap((f) => (g.get(f) ?? []).filter((d) => area(d).startsWith("chat")).map((d) => `${f} → ${d}`));
    expect(bad).toEqual([]);
  });

  test("trust/, delivery/ and files/ do not import each other", () => {
    const concerns = ["chat/trust", "chat/delivery", "chat/files"];
    const bad = [...g].flatMap(([file, deps]) => deps.filter((d) => concerns.includes(area(file)) && concerns.includes(area(d)) && area(d) !== area(file)).map((d) => `${file} → ${d}`));
    expect(bad).toEqual([]);
  });

  test("chat/node/ is the layer above the concerns, used only by node.ts; node.ts is the wiring", () => {
    const modules = [...g.keys()].filter((f) => area(f) === "chat/node");
    expect(modules.length).toBeGreaterThan(3);
    const users = [...g].filter(([file, deps]) => area(file) !== "chat/node" && deps.some((d) => area(d) === "chat/node")).map(([file]) => file);
    expect(users).toEqual(["chat/node.ts"]);
    expect(readFileSync(join(SRC, "chat/node.ts"), "utf8").split("\n").length).toBeLessThanOrEqual(308); // 301 at the split, + ChatApi.away and ChatApi.sendAllMany (one delegating method each), − 1 when a PONG went to the extensions in one call
  });

  test("there is no import cycle, type-only imports included", () => {
    expect(findCycles(g)).toEqual([]);
  });
});
