/**
 * Sealing and opening RECORD frames (PROTOCOL §5), one direction each.
 *
 * Send pipeline (RecordWriter.seal):
 *   1. items → plaintext (items.ts), at most 65,280 bytes;
 *   2. PKCS#7 pad to a multiple of 16 (1..16 bytes);
 *   3. IV: 16 fresh bytes from the RandomSource (a CSPRNG pool at the edge);
 *   4. AES-256-CBC under the enc key, through a context kept for the life of the key;
 *   5. tag = HMAC-SHA256(mac key, seq:u64 | length:u16 | type:u8 | iv | ct), appended.
 * Receive pipeline (RecordReader.open): the body size was checked by the frame
 * assembler; the tag is verified in constant time BEFORE anything is decrypted, and a
 * bad tag and bad padding raise the same error (no padding oracle).
 */
import { CbcDecryptor, CbcEncryptor, pkcs7Unpad, CbcError } from "../crypto/aes-cbc.ts";
import { putU64Number } from "../crypto/bytes.ts";
import { HmacKey } from "../crypto/hash.ts";
import type { RandomSource } from "../crypto/random.ts";
import {
  BLOCK_LEN,
  FRAME_HEADER_LEN,
  FrameType,
  IV_LEN,
  KEY_BLOCK_LEN,
  KEY_UPDATE_INTERVAL,
  MAX_PLAINTEXT,
  SEQ_LEN,
  TAG_LEN,
} from "./constants.ts";
import { checkFrameHeader } from "./frame.ts";
import { fail } from "./errors.ts";
import { DirectionKeys } from "./record-keys.ts";
import { trafficKeys } from "./schedule.ts";

const SEQ_BUF = new Uint8Array(SEQ_LEN);
const SEQ_VIEW = new DataView(SEQ_BUF.buffer);

/** The 8 bytes of a caller's buffer that seq borrows while a record is sealed (sealAt). */
const SAVED = new Uint8Array(SEQ_LEN);

/**
 * The last view sealAt made of a caller's buffer, kept for the next call with the same
 * buffer and range: a run of equal-sized records (one message each) makes no new view.
 */
class ViewCache {
  #of: Uint8Array | null = null;
  #start = 0;
  #end = 0;
  #view: Uint8Array | null = null;
  get(buf: Uint8Array, start: number, end: number): Uint8Array {
    if (buf !== this.#of || start !== this.#start || end !== this.#end) {
      this.#of = buf;
      this.#start = start;
      this.#end = end;
      this.#view = start === 0 && end === buf.length ? buf : buf.subarray(start, end);
    }
    return this.#view!;
  }
}
const PT_VIEW = new ViewCache();
const MAC_VIEW = new ViewCache();
const TAG_VIEW = new ViewCache();

/**
 * Frames up to this size are opened from OPEN_SCRATCH (seq | frame, copied): a run of
 * equal-sized records (one message each) makes no view; larger ones are not copied.
 */
const SMALL_FRAME = 2048;
const OPEN_SCRATCH = new Uint8Array(SEQ_LEN + SMALL_FRAME);
const OPEN_MAC_VIEW = new ViewCache();
const OPEN_CT_VIEW = new ViewCache();
/**
 * Buffer's copy by offsets, called on any Uint8Array (a socket's chunk is a Buffer, a
 * test's may not be): src.copy(target, targetStart, sourceStart, sourceEnd), no view made.
 */
const COPY = Buffer.prototype.copy as (this: Uint8Array, target: Uint8Array, targetStart: number, sourceStart: number, sourceEnd: number) => number;


/** The MAC input prefix seq:u64 (one shared buffer: read at once by the MAC, never kept). */
function seqBytes(seq: number): Uint8Array {
  SEQ_VIEW.setUint32(0, Math.floor(seq / 2 ** 32));
  SEQ_VIEW.setUint32(4, seq >>> 0);
  return SEQ_BUF;
}

/**
 * Seal `pt[0..n)` as the RECORD at `seq` under `enc`/`mac` into `out` at `off`, with `iv`
 * filled by the caller's random source. `pt` needs 16 spare bytes after `n` (padding,
 * scratch). Returns the frame length. Shared by RecordWriter and RecordSealer.
 */
function sealAt(enc: CbcEncryptor, mac: HmacKey, random: RandomSource, seq: number, pt: Uint8Array, n: number, out: Uint8Array, off: number): number {
  const pad = BLOCK_LEN - (n % BLOCK_LEN);
  const ctLen = n + pad;
  const frameLen = FRAME_HEADER_LEN + IV_LEN + ctLen + TAG_LEN;
  if (pt.length < ctLen || out.length - off < frameLen) throw new RangeError("sealInto: buffer too small");
  const length = frameLen - 2;
  out[off] = length >>> 8;
  out[off + 1] = length & 0xff;
  out[off + 2] = FrameType.RECORD;
  const ivAt = off + FRAME_HEADER_LEN;
  random.fillAt(out, ivAt, IV_LEN);
  // PKCS#7, 1..16 bytes: a byte loop (a native `fill` call costs more than the loop here).
  for (let i = n; i < ctLen; i++) pt[i] = pad;
  enc.encryptAfterIv(out, ivAt, PT_VIEW.get(pt, 0, ctLen));
  const macEnd = ivAt + IV_LEN + ctLen;
  // PROTOCOL §5: tag = HMAC(seq | header | iv | ct). With 8 bytes of the caller's buffer in
  // front of the frame, seq is written there for the moment of one MAC update (one native
  // call instead of two) and the bytes are put back at once.
  if (off >= SEQ_LEN) {
    const at = off - SEQ_LEN;
    for (let i = 0; i < SEQ_LEN; i++) SAVED[i] = out[at + i]!;
    putU64Number(out, at, seq);
    // With 64 bytes of room from the tag on (Bun's digest asks for them, and writes 32),
    // the tag is digested in place through a cached view: no copy of it.
    if (out.length - macEnd >= 64) mac.macAt(MAC_VIEW.get(out, at, macEnd), TAG_VIEW.get(out, macEnd, macEnd + 64));
    else mac.macInto(MAC_VIEW.get(out, at, macEnd), out, macEnd);
    for (let i = 0; i < SEQ_LEN; i++) out[at + i] = SAVED[i]!;
  } else mac.mac2Into(seqBytes(seq), out.subarray(off, macEnd), out, macEnd);
  return frameLen;
}

/** A range of sequence numbers handed out by RecordWriter.lease, with a copy of its keys. */
export interface SealLease {
  /** enc key | mac key for these records (a copy: wipe it when done). */
  keyBlock: Uint8Array;
  /** Sequence number of the first record. */
  seq: number;
  /** How many records, at seq, seq + 1, …; none of them may carry KEY_UPDATE. */
  count: number;
  /** Changes whenever the keys change (KEY_UPDATE), so a holder of keys can tell. */
  epoch: number;
}

/**
 * Seals records at given sequence numbers under one key block: the worker side of
 * parallel sealing (src/net/seal-workers.ts). Records are independent (own IV, own seq in the MAC),
 * so any thread may seal any of them; the wire order is the sequence order.
 */
export class RecordSealer {
  readonly #enc: CbcEncryptor;
  readonly #mac: HmacKey;
  readonly #random: RandomSource;
  /** @throws TypeError unless keyBlock is 64 bytes. The block is not kept or wiped. */
  constructor(keyBlock: Uint8Array, random: RandomSource) {
    if (keyBlock.length !== KEY_BLOCK_LEN) throw new TypeError(`"key block" expected ${KEY_BLOCK_LEN} bytes, got ${keyBlock.length}`);
    this.#enc = new CbcEncryptor(keyBlock.subarray(0, 32));
    this.#mac = new HmacKey(keyBlock.subarray(32, 64));
    this.#random = random;
  }
  /**
   * Seal `pt[0..n)` as the record at `seq` into `out` at `off`; as RecordWriter.sealInto.
   * @throws RangeError when n is outside 1..65,280 or a buffer is too small.
   */
  sealInto(seq: number, pt: Uint8Array, n: number, out: Uint8Array, off: number): number {
    if (n === 0 || n > MAX_PLAINTEXT) throw new RangeError(`record plaintext of ${n} bytes is outside 1..${MAX_PLAINTEXT}`);
    return sealAt(this.#enc, this.#mac, this.#random, seq, pt, n, out, off);
  }
}

/** Seals records for one direction. */
export class RecordWriter {
  readonly #k: DirectionKeys;
  readonly #random: RandomSource;
  #epoch = 0;

  private constructor(k: DirectionKeys, random: RandomSource) {
    this.#k = k;
    this.#random = random;
  }
  /** A writer for a handshake key block (hk_*: enc | mac); it cannot be updated. The block is wiped. */
  static fromKeyBlock(keyBlock: Uint8Array, random: RandomSource): RecordWriter {
    return new RecordWriter(new DirectionKeys(keyBlock, null, true), random);
  }
  /**
   * A writer for a handshake key block that seals one record (AUTH, or an alert at seq 0):
   * lighter than fromKeyBlock (no copy of the MAC state, no kept block); a second record
   * throws. The block is wiped.
   */
  static forOneRecord(keyBlock: Uint8Array, random: RandomSource): RecordWriter {
    return new RecordWriter(new DirectionKeys(keyBlock, null, true, true), random);
  }
  /** A writer for a traffic secret ts; keys(ts) are derived here. Takes ownership of `ts`. */
  static fromSecret(ts: Uint8Array, random: RandomSource): RecordWriter {
    return new RecordWriter(new DirectionKeys(trafficKeys(ts), ts, true), random);
  }

  /** Sequence number of the next record. */
  get seq(): number {
    return this.#k.seq;
  }
  /** True when the next record must carry KEY_UPDATE (PROTOCOL §6: at least every 2^20 records). */
  get mustUpdate(): boolean {
    return this.#k.seq >= KEY_UPDATE_INTERVAL - 1;
  }

  /**
   * Seal one plaintext into a whole RECORD frame. When `keyUpdate` is true the plaintext
   * ends with a KEY_UPDATE item and the keys are updated after this record.
   * @throws RangeError when the plaintext is empty or over 65,280 bytes, or when this
   * record must carry KEY_UPDATE (`mustUpdate`) and `keyUpdate` is false (local bugs).
   */
  seal(plaintext: Uint8Array, keyUpdate = false): Uint8Array {
    const n = plaintext.length;
    const scratch = new Uint8Array(n + BLOCK_LEN);
    scratch.set(plaintext);
    const frame = new Uint8Array(recordFrameLength(n));
    this.sealInto(scratch, n, frame, 0, keyUpdate);
    return frame;
  }

  /**
   * Seal `pt[0..n)` into `out` at `off` (the hot path: no allocation but the cipher's
   * output). `pt` needs 16 spare bytes after `n` for the padding and is used as scratch.
   * Returns the frame length, recordFrameLength(n).
   * @throws RangeError as `seal`, or when `pt` or `out` is too small.
   */
  sealInto(pt: Uint8Array, n: number, out: Uint8Array, off: number, keyUpdate = false): number {
    if (n === 0 || n > MAX_PLAINTEXT) throw new RangeError(`record plaintext of ${n} bytes is outside 1..${MAX_PLAINTEXT}`);
    const k = this.#k;
    // PROTOCOL §6: the 2^20-th record under one key (seq 2^20 - 1) must carry KEY_UPDATE;
    // the peer's reader refuses a record at seq 2^20 (key_exhausted).
    if (k.seq >= KEY_UPDATE_INTERVAL - 1 && !keyUpdate) throw new RangeError("keys must be updated before sealing more records");
    const frameLen = sealAt(k.enc as CbcEncryptor, k.mac, this.#random, k.seq, pt, n, out, off);
    k.seq++;
    if (keyUpdate) {
      k.update();
      this.#epoch++;
    }
    return frameLen;
  }

  /**
   * Hand out up to `count` sequence numbers for sealing elsewhere (RecordSealer, worker
   * threads), never the one that must carry KEY_UPDATE: the lease may be shorter than asked,
   * and is empty (count 0) when the next record must be sealed here with keyUpdate.
   * The caller must put the leased records on the wire in sequence order, before any
   * record this writer seals afterwards.
   * @throws RangeError unless count is a positive integer.
   */
  lease(count: number): SealLease {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`"count" expected a positive integer, got ${count}`);
    const k = this.#k;
    const n = Math.max(0, Math.min(count, KEY_UPDATE_INTERVAL - 1 - k.seq));
    const lease = { keyBlock: k.block(), seq: k.seq, count: n, epoch: this.#epoch };
    k.seq += n;
    return lease;
  }
}

/** The length of the RECORD frame that carries `n` bytes of plaintext. */
export function recordFrameLength(n: number): number {
  return FRAME_HEADER_LEN + IV_LEN + (n + BLOCK_LEN - (n % BLOCK_LEN)) + TAG_LEN;
}

/** Opens records for one direction. */
export class RecordReader {
  readonly #k: DirectionKeys;
  private constructor(k: DirectionKeys) {
    this.#k = k;
  }
  /** A reader for a handshake key block (hk_*). The block is wiped. */
  static fromKeyBlock(keyBlock: Uint8Array): RecordReader {
    return new RecordReader(new DirectionKeys(keyBlock, null, false));
  }
  /** A reader for a handshake key block that opens one record (the peer's AUTH or alert), as RecordWriter.forOneRecord. The block is wiped. */
  static forOneRecord(keyBlock: Uint8Array): RecordReader {
    return new RecordReader(new DirectionKeys(keyBlock, null, false, true));
  }
  /** A reader for a traffic secret ts. Takes ownership of `ts`. */
  static fromSecret(ts: Uint8Array): RecordReader {
    return new RecordReader(new DirectionKeys(trafficKeys(ts), ts, false));
  }

  /** Sequence number expected for the next record. */
  get seq(): number {
    return this.#k.seq;
  }

  /**
   * Verify and decrypt one whole RECORD frame; returns the plaintext (a view).
   * @throws ProtocolError frame_length (bad size), bad_record (tag or padding: the same
   * error for both), oversized (plaintext over 65,280 bytes), key_exhausted.
   */
  open(frame: Uint8Array): Uint8Array {
    const end = this.openInPlace(frame);
    return this.takeOpened().subarray(BLOCK_LEN, end);
  }

  /**
   * What the last openInPlace decrypted (the plaintext is at `[16..end)`, 16 = the
   * discarded IV block), handed over once: the reader keeps no reference to it, so an
   * idle session holds no plaintext of its last record. @throws Error when there is none.
   */
  takeOpened(): Uint8Array {
    const b = this.#opened;
    if (b === null) throw new Error("no record opened since the last takeOpened");
    this.#opened = null;
    return b;
  }
  #opened: Uint8Array | null = null;

  /**
   * As `open`, with no view of the plaintext: it is left for `takeOpened()` at
   * `[16..end)`, and `end` is returned (the per-message path decodes it in place). A small frame is verified and
   * decrypted from one scratch copy, seq | frame: one MAC update and no view at all (a
   * view costs as much as a native call here). @throws ProtocolError as `open`.
   */
  openInPlace(frame: Uint8Array): number {
    return this.openFrom(frame, 0, frame.length);
  }

  /**
   * As `openInPlace` for the frame at `src[at..at + size)`, with no view of it: a small
   * frame is copied from `src` by offset into the scratch (Buffer's copy, one native call;
   * a first view of a socket's chunk costs more, see frame.ts AssembledFrame), a larger one
   * is read through one view. @throws ProtocolError as `open`; RangeError when the range lies outside `src`.
   */
  openFrom(src: Uint8Array, at: number, size: number): number {
    if (!(at >= 0 && size >= 0 && at + size <= src.length)) throw new RangeError(`openFrom: [${at}, ${at + size}) is outside a buffer of ${src.length} bytes`);
    const k = this.#k;
    const length = size >= 2 ? (src[at]! << 8) | src[at + 1]! : -1;
    if (size < FRAME_HEADER_LEN || size !== length + 2 || src[at + 2] !== FrameType.RECORD) {
      throw fail("frame_length", "record frame header does not match its size");
    }
    checkFrameHeader(FrameType.RECORD, length);
    if (k.seq >= KEY_UPDATE_INTERVAL) throw fail("key_exhausted", `the peer sent ${KEY_UPDATE_INTERVAL} records without a key update`);
    const macEnd = size - TAG_LEN;
    let ivAndCt: Uint8Array;
    // PROTOCOL §5: verify the tag before decrypting (no padding oracle).
    if (size <= SMALL_FRAME) {
      const sc = OPEN_SCRATCH;
      putU64Number(sc, 0, k.seq);
      COPY.call(src, sc, SEQ_LEN, at, at + size);
      if (!k.mac.verify(OPEN_MAC_VIEW.get(sc, 0, SEQ_LEN + macEnd), sc, SEQ_LEN + macEnd)) throw fail("bad_record", "a record failed authentication");
      ivAndCt = OPEN_CT_VIEW.get(sc, SEQ_LEN + FRAME_HEADER_LEN, SEQ_LEN + macEnd);
    } else {
      const frame = at === 0 && size === src.length ? src : src.subarray(at, at + size);
      if (!k.mac.verify2(seqBytes(k.seq), frame.subarray(0, macEnd), frame, macEnd)) throw fail("bad_record", "a record failed authentication");
      ivAndCt = frame.subarray(FRAME_HEADER_LEN, macEnd);
    }
    // The decrypted IV block comes first (discarded): no view of the plaintext here.
    const whole = (k.enc as CbcDecryptor).decryptWithIvBlock(ivAndCt);
    let end: number;
    try {
      end = pkcs7Unpad(whole);
    } catch (e) {
      if (e instanceof CbcError) throw fail("bad_record", "a record failed authentication");
      throw e;
    }
    const n = end - BLOCK_LEN;
    if (n > MAX_PLAINTEXT) throw fail("oversized", `a record carries ${n} bytes of plaintext, over ${MAX_PLAINTEXT}`);
    k.seq++;
    this.#opened = whole;
    return end;
  }

  /** Apply the peer's KEY_UPDATE: the next record is opened under keys(next(ts)), seq 0. */
  update(): void {
    this.#k.update();
  }
}
