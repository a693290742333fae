/** Small byte helpers shared by every layer. */

const enc = new TextEncoder();

/** ASCII/UTF-8 bytes of a string. */
export function utf8(s: string): Uint8Array {
  return enc.encode(s);
}

/** Concatenation of byte strings into one new buffer. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Lowercase hex of bytes. */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

/** Bytes of a hex string. @throws TypeError on odd length or a non-hex digit. */
export function fromHex(h: string): Uint8Array {
  if (h.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(h)) throw new TypeError("\"hex\" expected an even number of hex digits");
  return new Uint8Array(Buffer.from(h, "hex"));
}

/** Overwrite a secret with zeros (best effort: JS may hold copies). */
export function wipe(...bufs: (Uint8Array | undefined)[]): void {
  for (const b of bufs) b?.fill(0);
}

/** Throw a TypeError shaped like `"name" expected N bytes, got M` unless b has exactly n bytes. */
export function expectBytes(name: string, b: Uint8Array, n: number): void {
  if (!(b instanceof Uint8Array)) throw new TypeError(`"${name}" expected Uint8Array`);
  if (b.length !== n) throw new TypeError(`"${name}" expected ${n} bytes, got ${b.length}`);
}

/** Write `hi:u32 | lo:u32` big-endian at `b[i..i+8)`. */
export function putHiLo(b: Uint8Array, i: number, hi: number, lo: number): void {
  b[i] = hi >>> 24;
  b[i + 1] = (hi >>> 16) & 0xff;
  b[i + 2] = (hi >>> 8) & 0xff;
  b[i + 3] = hi & 0xff;
  b[i + 4] = lo >>> 24;
  b[i + 5] = (lo >>> 16) & 0xff;
  b[i + 6] = (lo >>> 8) & 0xff;
  b[i + 7] = lo & 0xff;
}

/** Write a safe non-negative integer as a big-endian u64 at `b[i..i+8)` (no division below 2^32). */
export function putU64Number(b: Uint8Array, i: number, n: number): void {
  putHiLo(b, i, n > 0xffffffff ? Math.floor(n / 0x100000000) : 0, n >>> 0);
}
