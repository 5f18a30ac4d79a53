/**
 * Encryption of secrets at rest (tokens, client secrets): AES-256-GCM with a random 96-bit nonce per value.
 * The key is derived from APP_SECRET with HKDF-SHA256, so the secret itself never touches the database.
 * Stored form: `v1:` + base64url(nonce | tag | ciphertext).
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { AppError } from '../errors.js';

const PREFIX = 'v1:';

export class SecretBox {
  readonly #key: Buffer;

  constructor(appSecret: string) {
    this.#key = Buffer.from(hkdfSync('sha256', appSecret, 'bitrix24-xero-connector', 'secrets-at-rest/v1', 32));
  }

  seal(plaintext: string): string {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce);
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return PREFIX + Buffer.concat([nonce, cipher.getAuthTag(), body]).toString('base64url');
  }

  open(sealed: string): string {
    if (!sealed.startsWith(PREFIX)) {
      throw new AppError('STORE.SECRET_FORMAT', 'A stored secret is not in a known format.', 500);
    }
    const raw = Buffer.from(sealed.slice(PREFIX.length), 'base64url');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      throw new AppError(
        'STORE.SECRET_KEY_MISMATCH',
        'A stored secret cannot be decrypted: APP_SECRET differs from the one the database was written with.',
        500,
      );
    }
  }

  sealOptional(plaintext: string | null | undefined): string | null {
    return plaintext == null ? null : this.seal(plaintext);
  }

  openOptional(sealed: string | null | undefined): string | null {
    return sealed == null ? null : this.open(sealed);
  }
}
