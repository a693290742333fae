/** What the history tests share: the table read straight from history.db, and a chat node with history on. */
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { HISTORY_FILE } from "../../src/chat/delivery/history.ts";
import { decodeHistoryRun } from "../../src/chat/delivery/history-run.ts";
import { startNode } from "./node.ts";

/** Every line in the table, in order, as the file holds it: a row is one line, or a run of them. */
export function linesOnDisk(home: string): { pid: string; text: string; private: number; mid: string | null }[] {
  const db = new Database(join(home, HISTORY_FILE), { readonly: true });
  const rows = db.query<{ pid: string; text: string; private: number; mid: string | null; lines: Uint8Array | null }, []>("SELECT pid, text, private, mid, lines FROM history ORDER BY n").all();
  db.close();
  return rows.flatMap((r) => (r.lines === null ? [{ pid: r.pid, text: r.text, private: r.private, mid: r.mid }] : decodeHistoryRun(r.lines).map((l) => ({ pid: r.pid, text: l.text, private: 0, mid: null }))));
}

/** Rows of the table. */
export function rowsOnDisk(home: string): number {
  const db = new Database(join(home, HISTORY_FILE), { readonly: true });
  const n = db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM history").get()!.n;
  db.close();
  return n;
}

export async function historyNode(name: string, home: string, o: { connect?: string[]; port?: number; history?: boolean } = {}) {
  // allowNew: the one that dials in is a contact too (this file is about history, not trust).
  const { n, events, port } = await startNode(name, { home, allowNew: true, port: o.port, connect: o.connect, history: o.history ?? true });
  return { n, events, port };
}
