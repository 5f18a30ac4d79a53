/**
 * The Xero account a rounding line goes to: the admin's setting, else the account the organisation's chart marks as
 * its rounding account (`SystemAccount` ROUNDING; 860 "Rounding" in the demo company). The chart is read only when a
 * document needs a rounding line, once an hour per connection.
 */
import type { PortalSettings } from '../domain/settings.js';
import type { XeroGateway } from './gateway.js';

const TTL_MS = 60 * 60_000;
const cache = new WeakMap<XeroGateway, { code: Promise<string | null>; at: number }>();

export async function roundingAccountOf(gateway: XeroGateway, settings: Pick<PortalSettings, 'roundingAccount'>): Promise<string | null> {
  if (settings.roundingAccount) return settings.roundingAccount;
  const cached = cache.get(gateway);
  if (cached && Date.now() - cached.at < TTL_MS) return cached.code;
  const code = gateway
    .call('reading the rounding account', (s) =>
      // https://developer.xero.com/documentation/api/accounting/accounts#get-accounts
      s.xero.accountingApi.getAccounts(s.tenantId, undefined, 'SystemAccount=="ROUNDING"'),
    )
    .then((answer) => answer.accounts?.find((a) => String(a.systemAccount) === 'ROUNDING' && a.code)?.code ?? null);
  cache.set(gateway, { code, at: Date.now() });
  code.catch(() => cache.delete(gateway));
  return code;
}
