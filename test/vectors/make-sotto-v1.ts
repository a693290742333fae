/** Regenerate test/vectors/sotto-v1.json (run: bun run vectors). Only when the spec changes. */
import { Group } from "../../src/protocol/constants.ts";
import { buildTranscript, inputsFor } from "./transcript.ts";

const out = {
  description:
    "sotto/1 deterministic vectors, produced by the core from the fixed inputs below (docs/PROTOCOL.md §10). " +
    "Each side draws its record IVs in order from its own `ivs` list. All values are lowercase hex.",
  vectors: [Group.X25519, Group.FFDHE2048].map((g) => buildTranscript(inputsFor(g))),
};
await Bun.write(new URL("./sotto-v1.json", import.meta.url), JSON.stringify(out, null, 2) + "\n");
console.log("wrote test/vectors/sotto-v1.json");
