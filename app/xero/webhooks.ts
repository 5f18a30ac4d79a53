/**
 * Xero webhooks: `x-xero-signature` is base64(HMAC-SHA256(raw body, webhook key)), checked on the raw bytes
 * before any parsing. Source: docs/reference/xero.md#webhooks; xero-webhooks.yaml.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

export function validXeroSignature(raw: Buffer, header: string | undefined, key: string | undefined): boolean {
  if (!key || typeof header !== 'string' || header.length === 0) return false;
  const expected = createHmac('sha256', key).update(raw).digest();
  const given = Buffer.from(header, 'base64');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const eventSchema = z.object({
  resourceUrl: z.string().optional(),
  resourceId: z.string().min(1),
  eventDateUtc: z.string().optional(),
  eventType: z.string(),
  eventCategory: z.string(),
  tenantId: z.string().min(1),
  tenantType: z.string().optional(),
});

export const webhookPayloadSchema = z.object({
  events: z.array(eventSchema).default([]),
  firstEventSequence: z.number().optional(),
  lastEventSequence: z.number().optional(),
  entropy: z.string().optional(),
});

export type XeroWebhookEvent = z.infer<typeof eventSchema>;
