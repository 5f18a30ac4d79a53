/**
 * Encryption of secrets at rest (tokens, client secrets): AES-256-GCM with a random 96-bit nonce per value and a
 * full 16-byte tag. The key is derived from APP_SECRET with HKDF-SHA256, so the secret itself never touches the
 * database. Each value is bound to its context (table, column and row, e.g. `portals.refresh_token:abc123`) as
 * additional authenticated data: a sealed value copied into another column or row no longer opens.
 *
 * Stored form: `v2:` + base64url(nonce | tag | ciphertext). Values written before contexts existed (`v1:`, no AAD,
 * so they open in any column or row) are re-sealed as `v2:` when the store opens (store/reseal.ts); after that a `v1:`
 * value is refused, never read.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { AppError } from '../errors.js';

const V2 = 'v2:';
export const V1 = 'v1:';
const NONCE = 12;
const TAG = 16;

export class SecretBox {
  readonly #key: Buffer;

  constructor(appSecret: string) {
    this.#key = Buffer.from(hkdfSync('sha256', appSecret, 'bitrix24-xero-connector', 'secrets-at-rest/v1', 32));
  }

  /** Seals `plaintext` for `context` (where it is stored); only the same context opens it. */
  seal(plaintext: string, context: string): string {
    const nonce = randomBytes(NONCE);
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce, { authTagLength: TAG });
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return V2 + Buffer.concat([nonce, cipher.getAuthTag(), body]).toString('base64url');
  }

  open(sealed: string, context: string): string {
    if (sealed.startsWith(V1)) {
      throw new AppError('STORE.SECRET_FORMAT', 'A stored secret is in the old v1 format (not bound to its place), which is no longer read; the store re-seals such values when it opens, so this one was written since.', 500);
    }
    if (!sealed.startsWith(V2)) throw new AppError('STORE.SECRET_FORMAT', 'A stored secret is not in a known format.', 500);
    return this.#decrypt(sealed, context);
  }

  /** Opens a value of the old `v1:` format (no associated data); only for re-sealing it when the store opens. */
  openV1(sealed: string): string {
    if (!sealed.startsWith(V1)) throw new AppError('STORE.SECRET_FORMAT', 'Not a v1 secret.', 500);
    return this.#decrypt(sealed, null);
  }

  #decrypt(sealed: string, context: string | null): string {
    const raw = Buffer.from(sealed.slice(V2.length), 'base64url');
    try {
      // A value shorter than nonce + full tag is refused (GCM would otherwise accept a truncated tag).
      if (raw.length < NONCE + TAG) throw new Error('truncated');
      const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, NONCE), { authTagLength: TAG });
      if (context !== null) decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(raw.subarray(NONCE, NONCE + TAG));
      return Buffer.concat([decipher.update(raw.subarray(NONCE + TAG)), decipher.final()]).toString('utf8');
    } catch {
      throw new AppError(
        'STORE.SECRET_KEY_MISMATCH',
        'A stored secret cannot be decrypted: APP_SECRET differs from the one the database was written with, or the value was altered or moved.',
        500,
      );
    }
  }

  sealOptional(plaintext: string | null | undefined, context: string): string | null {
    return plaintext == null ? null : this.seal(plaintext, context);
  }

  openOptional(sealed: string | null | undefined, context: string): string | null {
    return sealed == null ? null : this.open(sealed, context);
  }
}
