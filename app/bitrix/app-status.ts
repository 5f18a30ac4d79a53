/**
 * Whether the app is installed on a portal, in the portal's own words: `app.info` asked with the connector's own
 * token (through the portal client, so it shares the stored pair and its one renewal at a time).
 *
 * Bitrix24 says "not installed" in two ways only: `app.info` answers a valid token with `INSTALLED: false`, or the
 * portal refuses the token because the app it was issued to is not installed — 401 `APPLICATION_NOT_FOUND`
 * "Application not found" (the portal's record of the app is inactive; checked before the token's expiry) or
 * `ERROR_OAUTH`/`NOT_INSTALLED` "Application not installed" (the OAuth server's record). Sources: docs/reference/bitrix24.md#users-and-admin-rights;
 * docs/reference/bitrix24.md#events ("all access permissions for the application to the API are removed"); Bitrix24's rest module
 * `Bitrix\Rest\OAuth\Auth::onRestCheckAuth` and the OAuth server's `Bitrix\OAuth\Client\Application::checkAppStatus`.
 * An expired or unknown token (`expired_token`, `invalid_token`) or a refused renewal (`invalid_grant`) says nothing
 * about the install.
 */
import { AppError } from '../errors.js';
import type { PortalClient } from './portal-client.js';

export type AppStatus = 'installed' | 'not-installed';

/**
 * `app.info` → INSTALLED. Timeout is the portal client's (30 s); not retried here on a network error, since the
 * caller asks again later (the `portal-uninstall` job). A refusal throws the client's AppError (`isNotInstalledRefusal`).
 */
// https://apidocs.bitrix24.com/api-reference/common/system/app-info.html
export async function readAppStatus(client: PortalClient): Promise<AppStatus> {
  const info = await client.call<{ INSTALLED?: unknown } | null>('app.info');
  if (!info || typeof info !== 'object' || !('INSTALLED' in info)) {
    throw new AppError('B24.CALL_FAILED', 'Bitrix24 app.info answered without INSTALLED.', 502);
  }
  const v = info.INSTALLED;
  return v === true || v === 'Y' || v === 'true' || v === 1 ? 'installed' : 'not-installed';
}

const NOT_INSTALLED_CODES = new Set(['B24.APPLICATION_NOT_FOUND', 'B24.ERROR_OAUTH', 'B24.NOT_INSTALLED']);

/** Whether an error is the portal refusing the token because the app is not installed (not just a bad token). */
export function isNotInstalledRefusal(err: unknown): boolean {
  if (!(err instanceof AppError)) return false;
  if (err.code === 'B24.APPLICATION_NOT_FOUND') return true;
  if (NOT_INSTALLED_CODES.has(err.code)) return /not installed/i.test(err.message);
  // The SDK reports some refusals as a failed result with Bitrix24's words only.
  return err.code === 'B24.CALL_FAILED' && /\b(APPLICATION_NOT_FOUND|Application not (found|installed))\b/i.test(err.message);
}
