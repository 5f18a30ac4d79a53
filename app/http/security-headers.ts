/**
 * Response headers that harden every answer (helmet): a Content-Security-Policy without inline scripts or styles,
 * HSTS when the connector is served over HTTPS, nosniff, no referrer. Bitrix24 frames the app's pages, so there is
 * no X-Frame-Options: framing is limited by CSP `frame-ancestors` — nobody by default, the portal's origin on the
 * pages that renderPage serves into the portal.
 */
import helmet from 'helmet';
import type { RequestHandler } from 'express';

/** The CSP of every answer except its frame-ancestors: scripts, styles and everything else only from the connector. */
const DIRECTIVES: Record<string, string[]> = {
  'default-src': ["'self'"],
  'script-src': ["'self'"],
  'script-src-attr': ["'none'"],
  'style-src': ["'self'"],
  'style-src-attr': ["'none'"],
  'img-src': ["'self'", 'data:'],
  'connect-src': ["'self'"],
  'font-src': ["'self'"],
  'form-action': ["'self'"],
  'base-uri': ["'none'"],
  'object-src': ["'none'"],
};

/** The CSP header value with the given frame-ancestors (`'none'` for top-level windows). */
export function contentSecurityPolicy(frameAncestors: string[]): string {
  return [...Object.entries(DIRECTIVES), ['frame-ancestors', frameAncestors] as const]
    .map(([k, v]) => `${k} ${v.join(' ')}`)
    .join('; ');
}

/** HSTS for one year once PUBLIC_URL is https (never on plain http, where browsers ignore it anyway). */
export function securityHeaders(publicUrl: string): RequestHandler {
  const https = new URL(publicUrl).protocol === 'https:';
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { ...DIRECTIVES, 'frame-ancestors': ["'none'"] },
    },
    strictTransportSecurity: https ? { maxAge: 31_536_000, includeSubDomains: false } : false,
    // Bitrix24 frames the pages: framing is governed by frame-ancestors above, not X-Frame-Options.
    xFrameOptions: false,
    // The Xero window is opened by a framed page; keep the opener relationship the result page relies on.
    crossOriginOpenerPolicy: false,
    referrerPolicy: { policy: 'no-referrer' },
  });
}
