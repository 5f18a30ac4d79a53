/**
 * A portal's token pair: the one place the stored pair is renewed. Refresh tokens are single-use — Bitrix24's OAuth
 * server refuses a spent one with `invalid_grant` (docs/reference/bitrix24.md#oauth-tokens) — so two renewals of the same pair at once
 * always end with one of them refused. Renewal is therefore single-flight: within this process one promise per portal
 * (every caller that needs new tokens meanwhile waits for it), and across processes sharing the store (the connector
 * and `npm run import`) the `b24-token:<member_id>` lease, under which the stored pair is read again before the OAuth
 * server is asked, and again after an `invalid_grant`, when a renewal elsewhere may have stored a rotated pair.
 *
 * A refused renewal says only that this refresh token is no good; it is never read as "the app was uninstalled"
 * (sync/install/install-portal.ts asks the portal itself).
 */
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/index.js';
import type { Portal, PortalTokens } from '../store/portals.js';
import { refreshAtOAuthServer, type OAuthTokenAnswer } from './portal-identity.js';

/** A stored pair is used as it is while its access token has more than this many seconds left. */
const FRESH_FOR_SECONDS = 60;

export class PortalTokenPairs {
  /** The renewal in flight per portal, which every caller in this process waits for. */
  readonly #renewing = new Map<string, Promise<PortalTokens>>();

  constructor(
    private readonly store: Store,
    private readonly bitrix: Config['bitrix'],
    private readonly logger: Logger,
  ) {}

  /** The pair as stored now; 409 once the app is uninstalled (the tokens are forgotten then). */
  async stored(memberId: string): Promise<PortalTokens> {
    const p = await this.store.portals.get(memberId);
    if (!p || p.state === 'uninstalled' || !p.accessToken || !p.refreshToken) {
      throw new AppError('B24.PORTAL_NOT_INSTALLED', 'The app is not installed on this Bitrix24 portal.', 409);
    }
    return pairOf(p);
  }

  /**
   * New tokens for a caller whose access token was refused or has expired; `seen` is the refresh token it held. When
   * the stored pair was renewed since (`seen` is not the stored one) and is still fresh, that pair is the answer and
   * the OAuth server is not asked. Throws `B24.REFRESH_FAILED` (502, `details.reason` = the OAuth server's error)
   * when the OAuth server refuses the stored refresh token and no renewed pair turned up meanwhile.
   */
  refresh(memberId: string, seen: string): Promise<PortalTokens> {
    const inFlight = this.#renewing.get(memberId);
    if (inFlight) return inFlight;
    const renewal = this.store.leases
      .withLease(`b24-token:${memberId}`, () => this.renewHoldingLease(memberId, seen))
      .finally(() => this.#renewing.delete(memberId));
    this.#renewing.set(memberId, renewal);
    return renewal;
  }

  private async renewHoldingLease(memberId: string, seen: string): Promise<PortalTokens> {
    let current = await this.stored(memberId);
    if (current.refreshToken !== seen && fresh(current)) return current;
    for (let attempt = 1; ; attempt++) {
      let answer: OAuthTokenAnswer;
      try {
        answer = await refreshAtOAuthServer(this.bitrix, current.refreshToken);
      } catch (err) {
        const e = err as AppError;
        // A renewal outside this lease (an older process, an answer lost after Bitrix24 rotated) may have spent the
        // token and stored the rotated pair: that pair is used, or renewed once itself.
        const now = await this.store.portals.get(memberId);
        if (e.details?.reason === 'invalid_grant' && now?.refreshToken && now.accessToken && now.refreshToken !== current.refreshToken) {
          const renewed = pairOf(now);
          if (fresh(renewed)) return renewed;
          if (attempt === 1) {
            current = renewed;
            continue;
          }
        }
        this.logger.warn({ memberId, code: e.code, reason: e.details?.reason }, 'Bitrix24 token refresh refused');
        // For the sync a refused renewal is the portal's problem (502), not the caller's.
        throw e.code === 'B24.REFRESH_FAILED' ? new AppError(e.code, e.message, 502, e.details) : e;
      }
      const renewed: PortalTokens = {
        accessToken: answer.access_token,
        refreshToken: answer.refresh_token,
        expiresAt: Number(answer.expires ?? 0) || Math.floor(Date.now() / 1000) + Number(answer.expires_in ?? 3600),
      };
      // Saved before the lease ends, so the next holder reads the rotated pair.
      await this.store.portals.saveTokens(memberId, renewed);
      this.logger.info({ memberId }, 'Bitrix24 tokens renewed');
      return renewed;
    }
  }
}

function pairOf(p: Portal): PortalTokens {
  return { accessToken: p.accessToken!, refreshToken: p.refreshToken!, expiresAt: p.expiresAt ?? 0 };
}

function fresh(t: PortalTokens): boolean {
  return t.expiresAt > Date.now() / 1000 + FRESH_FOR_SECONDS;
}
