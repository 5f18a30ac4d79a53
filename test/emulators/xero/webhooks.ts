// Outgoing webhooks: Xero's payload shape, x-xero-signature, intent-to-receive.
// Source: xero-webhooks.yaml; docs/reference/xero.md#webhooks; developer.xero.com/documentation/webhooks/overview, /configuring-your-server.
import { createHmac, randomBytes } from 'node:crypto';

export interface WebhookEvent {
  resourceUrl: string; resourceId: string; eventDateUtc: string; eventType: 'CREATE' | 'UPDATE';
  eventCategory: 'INVOICE' | 'CONTACT' | 'CREDITNOTE' | 'SUBSCRIPTION'; tenantId: string; tenantType: 'ORGANISATION';
}
export interface WebhookDelivery { status: number; signatureValid: boolean; body: string; error?: string }

/** base64(HMAC-SHA256(raw body, webhook key)). Source: docs/reference/xero.md#webhooks. */
export function sign(raw: string, key: string): string {
  return createHmac('sha256', key).update(raw).digest('base64');
}

export class WebhookSender {
  url?: string;
  key: string;
  private seq = 0;
  pending: WebhookEvent[] = [];
  deliveries: WebhookDelivery[] = [];

  constructor(key: string) { this.key = key; }

  /** Payload: {events, firstEventSequence, lastEventSequence, entropy}. Source: xero-webhooks.yaml; docs/reference/xero.md#webhooks. */
  payload(events: WebhookEvent[]): string {
    const first = events.length ? this.seq + 1 : 0;
    this.seq += events.length;
    return JSON.stringify({ events, firstEventSequence: first, lastEventSequence: events.length ? this.seq : 0, entropy: randomBytes(10).toString('hex').toUpperCase() });
  }

  async post(raw: string, signatureValid: boolean): Promise<WebhookDelivery> {
    if (!this.url) throw new Error('configureWebhook({ url }) first');
    const signature = signatureValid ? sign(raw, this.key) : sign(raw, `${this.key}-wrong`);
    try {
      // Xero expects an answer within 5 s (docs/reference/xero.md#webhooks); the emulator waits a little longer for slow CI machines.
      const res = await fetch(this.url, { method: 'POST', body: raw, headers: { 'content-type': 'application/json', 'x-xero-signature': signature }, signal: AbortSignal.timeout(10_000) });
      await res.arrayBuffer();
      const d = { status: res.status, signatureValid, body: raw };
      this.deliveries.push(d);
      return d;
    } catch (e) {
      const d = { status: 0, signatureValid, body: raw, error: String((e as Error).message) };
      this.deliveries.push(d);
      return d;
    }
  }

  /**
   * Intent to receive: a correctly signed and a wrongly signed empty batch; the endpoint must answer 200 and 401.
   * Source: docs/reference/xero.md#webhooks ("Intent to receive").
   */
  async intentToReceive(): Promise<{ goodStatus: number; badStatus: number; passed: boolean }> {
    const goodStatus = (await this.post(this.payload([]), true)).status;
    const badStatus = (await this.post(this.payload([]), false)).status;
    return { goodStatus, badStatus, passed: goodStatus === 200 && badStatus === 401 };
  }
}
