/**
 * Deep links into Xero: a link that opens a document in the right Xero organisation, named by its ShortCode
 * (`GET /Organisation`, cached with the organisation data).
 */

/**
 * The "Open in Xero" address of an invoice or quote; null when it cannot be built (a quote needs the ShortCode).
 * Without a ShortCode an invoice opens in whichever organisation the user last had open in Xero.
 */
export function xeroDeepLink(xeroType: string, xeroId: string, shortCode: string | null | undefined): string | null {
  const id = encodeURIComponent(xeroId);
  const sc = shortCode ? encodeURIComponent(shortCode) : null;
  if (xeroType === 'invoice') {
    // https://developer.xero.com/documentation/guides/how-to-guides/deep-link-xero ("View an invoice")
    return sc
      ? `https://go.xero.com/organisationlogin/default.aspx?shortcode=${sc}&redirecturl=/AccountsReceivable/View.aspx?InvoiceID=${id}`
      : `https://go.xero.com/AccountsReceivable/View.aspx?InvoiceID=${id}`;
  }
  if (xeroType === 'quote' && sc) {
    // Xero's deep-link guide lists no quote; Xero's own MCP server opens one at /app/{ShortCode}/quotes/view/{QuoteID}
    // (github.com/XeroAPI/xero-mcp-server, src/consts/deeplinks.ts).
    return `https://go.xero.com/app/${sc}/quotes/view/${id}`;
  }
  return null;
}
