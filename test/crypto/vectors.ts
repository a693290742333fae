/**
 * Typed loaders for the shared vectors in test/vectors/shared/ (see its README.md for
 * provenance and policies). Only the fields the crypto tests read are typed.
 */
import { fromHex } from "../../src/crypto/bytes.ts";

/** Parse one JSON file under test/vectors/shared/. */
export async function loadVectors<T>(name: string): Promise<T> {
  return (await Bun.file(new URL(`../vectors/shared/${name}`, import.meta.url)).json()) as T;
}

/** Bytes of a vector's hex field. */
export const hex = fromHex;

/** Fields every Wycheproof test case has. */
export interface WycheproofCase {
  tcId: number;
  comment: string;
  flags: string[];
  result: "valid" | "invalid" | "acceptable";
}

/** A Wycheproof file: groups `G` of cases `C`. */
export interface WycheproofFile<G, C extends WycheproofCase> {
  algorithm: string;
  numberOfTests: number;
  testGroups: (G & { tests: C[] })[];
}

/** Every case of a Wycheproof file with its group, in file order. */
export function cases<G, C extends WycheproofCase>(file: WycheproofFile<G, C>): { group: G; t: C }[] {
  return file.testGroups.flatMap((group) => group.tests.map((t) => ({ group, t })));
}

/** A test name that keeps the tcId, so failures trace back to the case. */
export function caseName(prefix: string, t: WycheproofCase): string {
  const flags = t.flags.length > 0 ? ` [${t.flags.join(",")}]` : "";
  return `${prefix} tcId ${t.tcId} ${t.result}${flags} ${t.comment}`.trimEnd();
}
