/**
 * What the sender learns of a file while it hashes it for the offer, so that it checks
 * the bytes it sends without a second SHA-256 pass over them (PROTOCOL §11.5, "the
 * sender checks itself"):
 *
 *   1. the file is cut into segments of SEGMENT_MIN (1 MiB) or more, at most
 *      MAX_SEGMENTS of them (16 KiB of fingerprints for the largest file);
 *   2. while the offer's SHA-256 reads the file, each segment's CRC-32 is written down
 *      (SegmentPrints.record);
 *   3. while the file is sent, the bytes read for the chunks are fed in file order to a
 *      SegmentCheck: at the end of each segment its CRC-32 must be the one written down,
 *      else the file changed since it was offered (CANCEL changed).
 *
 * The CRC-32 finds a change the sender made by accident (an edit, a download still
 * running into the file); it is not a security check and does not need to be: the
 * receiver verifies the SHA-256 of every byte against the offer before it keeps the file.
 */
export const SEGMENT_MIN = 1 << 20;
export const MAX_SEGMENTS = 4096;

/** The segment size for a file of `size` bytes: SEGMENT_MIN, doubled until at most MAX_SEGMENTS cover it. */
export function segmentSize(size: number): number {
  let s = SEGMENT_MIN;
  while (s * MAX_SEGMENTS < size) s *= 2;
  return s;
}

/** One running CRC-32 over consecutive segments, fed from byte `at` (a segment start) on. */
class SegmentRun {
  #at: number;
  #crc = 0;
  constructor(
    readonly prints: SegmentPrints,
    at: number,
  ) {
    this.#at = at;
  }
  /** Bytes fed so far, as a file offset. */
  get at(): number {
    return this.#at;
  }
  /**
   * Feed the next bytes; `end(index, crc)` at each segment end, false stops.
   * Returns false when `end` said so, or when the bytes go past the file's size.
   */
  feed(b: Uint8Array, end: (index: number, crc: number) => boolean): boolean {
    const { seg, size } = this.prints;
    for (let p = 0; p < b.length; ) {
      const i = Math.floor(this.#at / seg);
      const stop = Math.min((i + 1) * seg, size);
      const take = Math.min(b.length - p, stop - this.#at);
      if (take <= 0) return false;
      this.#crc = Bun.hash.crc32(p === 0 && take === b.length ? b : b.subarray(p, p + take), this.#crc);
      this.#at += take;
      p += take;
      if (this.#at === stop) {
        const crc = this.#crc;
        this.#crc = 0;
        if (!end(i, crc)) return false;
      }
    }
    return true;
  }
}

/** The CRC-32 of each segment of one file of `size` bytes. */
export class SegmentPrints {
  readonly seg: number;
  readonly crcs: Uint32Array;
  readonly #run: SegmentRun;

  constructor(readonly size: number) {
    this.seg = segmentSize(size);
    this.crcs = new Uint32Array(Math.ceil(size / this.seg));
    this.#run = new SegmentRun(this, 0);
  }

  /** Step 2: the file's bytes, in order from byte 0, as they are read for its SHA-256. */
  record(b: Uint8Array): void {
    this.#run.feed(b, (i, crc) => {
      this.crcs[i] = crc;
      return true;
    });
  }

  /** Every byte was recorded. */
  get complete(): boolean {
    return this.#run.at === this.size;
  }

  /** Step 3: a check of the bytes read again, in order from byte 0. */
  check(): SegmentCheck {
    if (!this.complete) throw new Error("internal: the file's segments were not all recorded");
    return new SegmentCheck(this);
  }
}

/** The bytes of a file read again, checked segment by segment against its SegmentPrints. */
export class SegmentCheck {
  readonly #run: SegmentRun;
  #ok = true;
  constructor(readonly prints: SegmentPrints) {
    this.#run = new SegmentRun(prints, 0);
  }
  /** Bytes checked so far (a file offset). */
  get at(): number {
    return this.#run.at;
  }
  /** The next bytes in file order. False (and false from then on) when a segment ended with another CRC-32, or the bytes go past the size. */
  feed(b: Uint8Array): boolean {
    if (!this.#ok) return false;
    this.#ok = this.#run.feed(b, (i, crc) => this.prints.crcs[i] === crc);
    return this.#ok;
  }
  /** No segment so far ended with another CRC-32, and no byte went past the size. */
  get ok(): boolean {
    return this.#ok;
  }
  /** Every byte of the file was fed and every segment matched. */
  get whole(): boolean {
    return this.#ok && this.#run.at === this.prints.size;
  }
}
