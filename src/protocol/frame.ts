/**
 * Frames (PROTOCOL §2): length:u16 | type:u8 | body, length = 1 + len(body).
 *
 * The assembler turns a byte stream, split anywhere, into whole frames:
 *   1. read the 3-byte header (it may straddle chunks: kept in a 3-byte buffer);
 *   2. check the declared length against what the type allows, before buffering a byte
 *      of body (so nothing is ever allocated from an unchecked length);
 *   3. a frame that lies inside one chunk is returned as where it lies in that chunk (no
 *      copy, and no view until one is asked for);
 *   4. a frame that straddles chunks is gathered into one buffer of exactly its size;
 *   5. after an error the assembler is dead: no resync, the connection must close.
 *      Whole frames that came before the bad header in the same chunk are still
 *      returned (so the output never depends on how the bytes were split), and the
 *      error is then in `error` and thrown by every later call.
 * At most one partial frame is buffered per connection (≤ 65,537 bytes).
 */
import {
  FRAME_HEADER_LEN,
  FrameType,
  HELLO_FIXED_LEN,
  MAX_FRAME_LENGTH,
  MAX_RECORD_BODY,
  MAX_SHARE_LEN,
  MIN_RECORD_BODY,
  BLOCK_LEN,
  IV_LEN,
  TAG_LEN,
} from "./constants.ts";
import { fail, ProtocolError } from "./errors.ts";

/**
 * One whole frame. `bytes` is the frame with its header (what transcripts hash); `body` follows the header.
 * `src`, `at`: when given, the frame is `src[at..at + bytes.length)`, so a reader can copy
 * it out by offset without asking for `bytes` (a view: see AssembledFrame).
 */
export interface Frame {
  type: number;
  bytes: Uint8Array;
  body: Uint8Array;
  readonly src?: Uint8Array;
  readonly at?: number;
  /** The frame's length, header included (bytes.length, without making the view). */
  readonly size?: number;
}

/**
 * A frame the assembler found, where it lies in its chunk: its views are made only when
 * read. The first view of a chunk Bun's socket hands over costs ≈ 0.2–0.3 µs (the engine
 * then gives the chunk an ArrayBuffer of its own), as much as a small record's MAC; the
 * record path copies a small frame out by offset instead (RecordReader.openFrom) and
 * never asks for `bytes`.
 */
class AssembledFrame implements Frame {
  #bytes: Uint8Array | null;
  constructor(
    readonly type: number,
    readonly src: Uint8Array,
    readonly at: number,
    readonly size: number,
  ) {
    this.#bytes = at === 0 && size === src.length ? src : null;
  }
  get bytes(): Uint8Array {
    return (this.#bytes ??= this.src.subarray(this.at, this.at + this.size));
  }
  get body(): Uint8Array {
    return this.bytes.subarray(FRAME_HEADER_LEN);
  }
}

/**
 * Check a frame header's declared length against its type (PROTOCOL §2).
 * @throws ProtocolError frame_type or frame_length.
 */
export function checkFrameHeader(type: number, length: number): void {
  if (length === 0) throw fail("frame_length", "frame length 0 is not allowed");
  const body = length - 1;
  switch (type) {
    case FrameType.HELLO:
    case FrameType.HELLO_REPLY:
      // The exact size depends on the group; the handshake checks it. Here: the fixed
      // part and no more than the largest share any group has.
      if (body < HELLO_FIXED_LEN || body > HELLO_FIXED_LEN + MAX_SHARE_LEN) {
        throw fail("frame_length", `hello frame of ${body} bytes is outside ${HELLO_FIXED_LEN}..${HELLO_FIXED_LEN + MAX_SHARE_LEN}`);
      }
      return;
    case FrameType.RECORD:
      // PROTOCOL §5: iv:16 | ct:16k (k >= 1) | tag:32, and no more ciphertext than the
      // largest plaintext needs.
      if (body < MIN_RECORD_BODY || body > MAX_RECORD_BODY || (body - IV_LEN - TAG_LEN) % BLOCK_LEN !== 0) {
        throw fail("frame_length", `record body of ${body} bytes is not iv + 16k + tag within limits`);
      }
      return;
    case FrameType.ALERT:
      if (body < 1) throw fail("frame_length", "alert frame has no code");
      return;
    default:
      throw fail("frame_type", `unknown frame type 0x${type.toString(16).padStart(2, "0")}`);
  }
}

/**
 * Encode one frame. @throws RangeError when the body is too long for a u16 length
 * (a local bug, not a peer fault).
 */
export function encodeFrame(type: number, body: Uint8Array): Uint8Array {
  const length = 1 + body.length;
  if (length > MAX_FRAME_LENGTH) throw new RangeError(`frame body of ${body.length} bytes exceeds the u16 length`);
  const out = new Uint8Array(FRAME_HEADER_LEN + body.length);
  out[0] = length >>> 8;
  out[1] = length & 0xff;
  out[2] = type;
  out.set(body, FRAME_HEADER_LEN);
  return out;
}

/** Splits a byte stream into frames; see the file comment for the pipeline. */
export class FrameAssembler {
  readonly #header = new Uint8Array(FRAME_HEADER_LEN);
  #headerHave = 0;
  #partial: Uint8Array | null = null; // the frame being gathered, header included
  #partialHave = 0;
  #dead: ProtocolError | null = null;
  readonly #deferTail: boolean;
  // deferTail: the start of an incomplete frame at the end of the last chunk, a view into
  // it, and that frame's whole size; copied by settle() (or the next push).
  #tail: Uint8Array | null = null;
  #tailTotal = 0;

  /**
   * `deferTail`: the incomplete frame a chunk ends with is not copied by push(); the
   * caller calls settle() before it lets go of the chunk (or changes it). A caller that
   * stops after a frame of the chunk (the connection failed) then never pays for
   * copying, nor allocating, the frame it would have gathered.
   */
  constructor(o: { deferTail?: boolean } = {}) {
    this.#deferTail = o.deferTail ?? false;
  }

  /** Bytes buffered for an incomplete frame (header bytes included). */
  get buffered(): number {
    if (this.#tail !== null) return this.#tail.length;
    return this.#partial !== null ? this.#partialHave : this.#headerHave;
  }

  /** Bytes of memory held for the incomplete frame (its whole declared size once the header is in). */
  get allocated(): number {
    if (this.#tail !== null) return this.#tailTotal;
    return this.#partial !== null ? this.#partial.length : this.#headerHave;
  }

  /** Copy the incomplete frame the last chunk ended with out of it (deferTail); a no-op otherwise. */
  settle(): void {
    const t = this.#tail;
    if (t === null) return;
    this.#tail = null;
    const p = new Uint8Array(this.#tailTotal);
    p.set(t);
    this.#partial = p;
    this.#partialHave = t.length;
  }

  /** The error that ended the stream, once one did (check it after using push()'s frames). */
  get error(): ProtocolError | null {
    return this.#dead;
  }

  /**
   * Feed one chunk; returns the frames it completes, in order. Views into `chunk` stay
   * valid only as long as the caller keeps `chunk` unchanged. When a bad header follows
   * whole frames in the chunk, those frames are returned and `error` is set.
   * @throws ProtocolError frame_type / frame_length when no frame precedes the bad
   * header; every later call rethrows it.
   */
  push(chunk: Uint8Array): Frame[] {
    if (this.#dead) throw this.#dead;
    this.settle();
    const frames: Frame[] = [];
    try {
      this.#push(chunk, frames);
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.#dead = e;
      this.#tail = null;
      this.#partial = null;
      this.#headerHave = 0;
      if (frames.length === 0) throw e;
    }
    return frames;
  }

  /**
   * The stream ended. @throws ProtocolError truncated when it ended inside a frame
   * (the partial frame is discarded and nothing of it is delivered).
   */
  end(): void {
    const inside = this.buffered > 0;
    this.#tail = null;
    this.#partial = null;
    this.#headerHave = 0;
    if (inside && !this.#dead) throw (this.#dead = fail("truncated", "the connection closed in the middle of a frame", { ended: "mid_frame" }));
  }

  #push(chunk: Uint8Array, frames: Frame[]): void {
    let off = 0;
    const n = chunk.length;
    // Finish a frame gathered across earlier chunks.
    if (this.#partial !== null) {
      const p = this.#partial;
      const take = Math.min(p.length - this.#partialHave, n);
      p.set(chunk.subarray(0, take), this.#partialHave);
      this.#partialHave += take;
      off = take;
      if (this.#partialHave < p.length) return;
      this.#partial = null;
      frames.push(new AssembledFrame(p[2]!, p, 0, p.length));
    }
    // Finish a header that straddled chunks.
    if (this.#headerHave > 0) {
      const h = this.#header;
      while (this.#headerHave < FRAME_HEADER_LEN && off < n) h[this.#headerHave++] = chunk[off++]!;
      if (this.#headerHave < FRAME_HEADER_LEN) return;
      this.#headerHave = 0;
      const length = (h[0]! << 8) | h[1]!;
      checkFrameHeader(h[2]!, length);
      const p = new Uint8Array(2 + length);
      p.set(h);
      const take = Math.min(p.length - FRAME_HEADER_LEN, n - off);
      p.set(chunk.subarray(off, off + take), FRAME_HEADER_LEN);
      off += take;
      if (FRAME_HEADER_LEN + take < p.length) {
        this.#partial = p;
        this.#partialHave = FRAME_HEADER_LEN + take;
        return;
      }
      frames.push(new AssembledFrame(p[2]!, p, 0, p.length));
    }
    // Frames that lie whole inside this chunk: views, no copy.
    while (n - off >= FRAME_HEADER_LEN) {
      const length = (chunk[off]! << 8) | chunk[off + 1]!;
      const type = chunk[off + 2]!;
      checkFrameHeader(type, length);
      const total = 2 + length;
      if (n - off < total) {
        if (this.#deferTail) {
          this.#tail = chunk.subarray(off);
          this.#tailTotal = total;
          return;
        }
        const p = new Uint8Array(total);
        p.set(chunk.subarray(off));
        this.#partial = p;
        this.#partialHave = n - off;
        return;
      }
      // Where the frame lies, no view (AssembledFrame).
      frames.push(new AssembledFrame(type, chunk, off, total));
      off += total;
    }
    // A header fragment of 1 or 2 bytes.
    while (off < n) this.#header[this.#headerHave++] = chunk[off++]!;
    return;
  }
}
