import { createHmac, randomBytes, randomUUID } from 'node:crypto';

/**
 * Partner tokens: JWT-looking strings signed with a per-instance secret, remembered with
 * their expiry so the API can answer 401 `110` for unknown, expired or revoked ones.
 */

export interface IssuedToken {
  token: string;
  expirySeconds: number;
  /** Epoch seconds. */
  expiresAt: number;
}

export class TokenStore {
  private readonly secret = randomBytes(32);
  /** token → expiry in epoch ms. */
  private readonly live = new Map<string, number>();
  /** token → 1 for the first issued, 2 for the next…: kept after expiry and revocation. */
  private readonly ordinals = new Map<string, number>();
  private issuedCount = 0;

  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  issue(ttlSeconds: number): IssuedToken {
    const nowMs = this.now();
    const expiresAt = Math.floor(nowMs / 1000) + ttlSeconds;
    const header = sandboxTokenPrefix.slice(0, -1);
    const payload = base64url({ jti: randomUUID(), iat: Math.floor(nowMs / 1000), exp: expiresAt });
    const signature = createHmac('sha256', this.secret)
      .update(`${header}.${payload}`)
      .digest('base64url');
    const token = `${header}.${payload}.${signature}`;
    this.live.set(token, expiresAt * 1000);
    this.issuedCount += 1;
    this.ordinals.set(token, this.issuedCount);
    return { token, expirySeconds: ttlSeconds, expiresAt };
  }

  isValid(token: string | undefined): boolean {
    if (token === undefined) return false;
    const expiresAtMs = this.live.get(token);
    if (expiresAtMs === undefined) return false;
    if (this.now() >= expiresAtMs) {
      this.live.delete(token);
      return false;
    }
    return true;
  }

  /** Which issued token this is (1 = the first), so inspection can name it without its value. */
  ordinal(token: string | undefined): number | null {
    return token === undefined ? null : (this.ordinals.get(token) ?? null);
  }

  /** Every token issued so far stops working. */
  revokeAll(): void {
    this.live.clear();
  }

  get issued(): number {
    return this.issuedCount;
  }
}

/** How every sandbox token begins (its JWT header): a text check can look for any of them. */
export const sandboxTokenPrefix = `${base64url({ kid: 'sandbox', alg: 'HS256', typ: 'JWT' })}.`;

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
