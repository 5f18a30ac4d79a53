/**
 * The portal's VAT rates (the catalog's VAT list; docs/reference/bitrix24.md#catalog): a portal has a handful, read in
 * one call.
 */
import type { PortalClient } from './portal-client.js';

/** The rates of the portal's active VAT entries, in percent as Bitrix24 gives them (`null`: "No VAT"). */
export async function activeVatRates(client: PortalClient): Promise<(number | string | null)[]> {
  // https://apidocs.bitrix24.com/api-reference/catalog/vat/catalog-vat-list.html
  const answer = await client.call<{ vats?: { rate: number | string | null; active?: string }[] }>('catalog.vat.list', { select: ['id', 'rate', 'active'] }, { idempotent: true });
  return (answer.vats ?? []).filter((v) => v.active !== 'N').map((v) => v.rate);
}
