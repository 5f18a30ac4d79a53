/**
 * "Connect Xero" the way the admin's browser does it, with its cookie: the connector's start URL (sets the
 * binding cookie), Xero's consent page (the emulator approves at once), the callback (a confirmation page naming
 * organisation and portal), and the confirmation POST. Used by tests and the demo.
 */

export interface ConsentLanding {
  status: number;
  html: string;
  /** `name=value` of the binding cookie the start URL set ('' when none). */
  cookie: string;
  callbackUrl: string;
}

/** Opens the start URL and follows Xero back to the connector's callback, keeping the cookie like a browser. */
export async function followConsent(startUrl: string): Promise<ConsentLanding> {
  const start = await fetch(startUrl, { redirect: 'manual' });
  if (start.status !== 302) throw new Error(`The connector's start URL answered ${start.status}: ${await start.text()}`);
  const cookie = (start.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const consent = await fetch(start.headers.get('location')!, { redirect: 'manual' });
  if (consent.status !== 302) throw new Error(`Xero's consent page answered ${consent.status}: ${await consent.text()}`);
  const callbackUrl = new URL(consent.headers.get('location')!, startUrl).toString();
  const cb = await fetch(callbackUrl, { headers: cookie ? { cookie } : {} });
  return { status: cb.status, html: await cb.text(), cookie, callbackUrl };
}

/** The hidden fields of the confirmation form on a callback page. */
export function confirmationForm(html: string): { choice: string; csrf: string; tenantIds: string[] } {
  const field = (name: string) => new RegExp(`name="${name}" value="([^"]+)"`).exec(html)?.[1];
  const choice = field('choice');
  const csrf = field('csrf');
  if (!choice || !csrf) throw new Error(`No confirmation form on the page: ${html.slice(0, 500)}`);
  const tenantIds = [...html.matchAll(/name="tenantId" value="([^"]+)"/g)].map((m) => m[1]!);
  return { choice, csrf, tenantIds };
}

/** Presses "Connect" on the confirmation page (the first organisation unless `tenantId` names another). */
export async function confirmConsent(connectorUrl: string, landing: ConsentLanding, opts: { tenantId?: string; cookie?: string } = {}): Promise<{ status: number; html: string }> {
  const form = confirmationForm(landing.html);
  const cookie = opts.cookie ?? landing.cookie;
  const res = await fetch(`${connectorUrl}/xero/confirm`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) },
    body: new URLSearchParams({ choice: form.choice, csrf: form.csrf, tenantId: opts.tenantId ?? form.tenantIds[0]! }),
  });
  return { status: res.status, html: await res.text() };
}

/** The whole flow from a start URL to "Connected to …"; throws when any step is refused. */
export async function consentAndConfirm(connectorUrl: string, startUrl: string): Promise<string> {
  const landing = await followConsent(startUrl);
  if (landing.status !== 200) throw new Error(`The callback answered ${landing.status}: ${landing.html.slice(0, 500)}`);
  const done = await confirmConsent(connectorUrl, landing);
  if (done.status !== 200 || !/Connected to/.test(done.html)) throw new Error(`The confirmation answered ${done.status}: ${done.html.slice(0, 500)}`);
  return done.html;
}
