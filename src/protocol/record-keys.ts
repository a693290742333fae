/**
 * The keys of one record direction (PROTOCOL §4, §6): the cipher and MAC contexts made
 * from a key block, the sequence number, and (traffic keys) the secret that KEY_UPDATE
 * advances. record.ts seals and opens records with them; pure, like it.
 */
import { CbcDecryptor, CbcEncryptor } from "../crypto/aes-cbc.ts";
import { wipe } from "../crypto/bytes.ts";
import { HmacKey } from "../crypto/hash.ts";
import { KEY_BLOCK_LEN } from "./constants.ts";
import { nextSecret, trafficKeys } from "./schedule.ts";

/** Where a key block's halves are handed to the cipher and the hasher (wiped at once). */
const KEY32 = new Uint8Array(32);

/**
 * One direction's key set: its cipher and MAC contexts, the sequence number, and the
 * traffic secret (null for handshake keys). @throws TypeError unless the key block is 64 bytes.
 */
export class DirectionKeys {
  enc!: CbcEncryptor | CbcDecryptor;
  mac!: HmacKey;
  seq = 0;
  secret: Uint8Array | null;
  /** enc key | mac key (PROTOCOL §4 key block), kept for leases to seal elsewhere (writers only). */
  #block: Uint8Array | null = null;

  constructor(
    keyBlock: Uint8Array,
    secret: Uint8Array | null,
    readonly sending: boolean,
    /** Handshake keys: one record (AUTH or an alert), no copy of the MAC state, no lease. */
    readonly once = false,
  ) {
    if (keyBlock.length !== KEY_BLOCK_LEN) throw new TypeError(`"key block" expected ${KEY_BLOCK_LEN} bytes, got ${keyBlock.length}`);
    this.secret = secret;
    this.#install(keyBlock);
  }

  #install(keyBlock: Uint8Array): void {
    // Each half through one scratch, wiped at once (the cipher and the hasher keep their
    // own copies): no views of the block. Handshake keys (`once`) seal or open one
    // record, AUTH or an alert: their HMAC is used once, without a copy of its state, and
    // a writer's block is not kept (they are never leased).
    const once = this.once;
    for (let i = 0; i < 32; i++) KEY32[i] = keyBlock[i]!;
    this.enc = this.sending ? new CbcEncryptor(KEY32) : new CbcDecryptor(KEY32);
    for (let i = 0; i < 32; i++) KEY32[i] = keyBlock[32 + i]!;
    this.mac = new HmacKey(KEY32, once);
    wipe(KEY32);
    this.seq = 0;
    if (this.sending && !once) {
      this.#block ??= new Uint8Array(KEY_BLOCK_LEN);
      this.#block.set(keyBlock);
    }
    wipe(keyBlock);
  }

  /** A copy of the current key block (a lease for sealing elsewhere). */
  block(): Uint8Array {
    if (this.#block === null) throw new Error("only a writer's keys can be leased (not a handshake's)");
    return new Uint8Array(this.#block);
  }

  /** KEY_UPDATE: ts = next(ts), keys = keys(ts), seq = 0. */
  update(): void {
    if (this.secret === null) throw new Error("handshake keys cannot be updated");
    const next = nextSecret(this.secret);
    wipe(this.secret);
    this.secret = next;
    this.#install(trafficKeys(next));
  }
}
