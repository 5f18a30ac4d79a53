/**
 * The portal's clock: `server.time`, the portal's time now (docs/reference/bitrix24.md#portal-time).
 */
import type { PortalClient } from './portal-client.js';

/** The portal's time now, ms since epoch; throws when Bitrix24 answers something that is not a time. */
export async function readServerTime(client: PortalClient): Promise<number> {
  // https://apidocs.bitrix24.com/api-reference/common/system/server-time.html ("Use the method to calculate the
  // clock offset between your server and Bitrix24"); a read, retried once on a network error (PortalClient).
  const answer = await client.call<string>('server.time', {}, { idempotent: true });
  const at = Date.parse(String(answer));
  if (!Number.isFinite(at)) throw new Error(`server.time answered ${JSON.stringify(answer)}`);
  return at;
}
