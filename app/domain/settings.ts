/**
 * The per-portal settings an admin edits: their schema, defaults and type, and the key a VAT rate has in the tax
 * map. Neutral: the Bitrix24 reader, the Xero mapper and the use cases all speak it; reading and saving them is the
 * use case's (sync/settings.ts).
 */
import { z } from 'zod';

export const settingsSchema = z.object({
  /** Xero account code used when a product has no "Xero sales account". (Default: none, which is an error) */
  defaultSalesAccount: z.string().trim().max(10).nullable().default(null),
  /**
   * Bitrix24 VAT rate (percent as text, e.g. "20", "0"; "none" for rows without VAT) → Xero TaxType.
   * (Default: empty — every rate must be mapped)
   */
  taxRateMap: z
    .record(z.string().regex(/^(none|\d+(\.\d+)?)$/, 'VAT rates are written as percentages such as 20 or 7.5, or "none"'), z.string().trim().min(1))
    .default({}),
  /**
   * Xero account of the rounding line a document gets when no line can carry its last cents. (Default: the account
   * the organisation's chart marks ROUNDING, e.g. 860 in the demo company)
   */
  roundingAccount: z.string().trim().max(10).nullable().default(null),
  /** When a Bitrix24 document is deleted: delete the Xero draft, and void an approved unpaid invoice. (Default: true) */
  voidOnDelete: z.boolean().default(true),
  /**
   * Approve the Xero invoice (AUTHORISED) when a salesperson moves it to the approve stage in Bitrix24.
   * (Default: false)
   */
  approveInXero: z.boolean().default(false),
  /**
   * The approve stage per pipeline (`smart_invoice:0`, `invoice`) → stage id. (Default: each pipeline's last
   * in-progress stage, from its stage semantics)
   */
  approveStages: z.record(z.string(), z.string().trim().min(1)).default({}),
  /** Seconds between Xero status polls, 30..300. (Default: POLL_INTERVAL_SECONDS) */
  pollIntervalSeconds: z.number().int().min(30).max(300).nullable().default(null),
  /**
   * Xero status → Bitrix24 stage, per pipeline (`smart_invoice:{categoryId}`, `invoice`, `quote`), e.g.
   * `{ "smart_invoice:2": { "PAID": "DT31_2:P" } }`. A status left out follows the pipeline's stage semantics.
   * (Default: empty — every pipeline follows its semantics, see bitrix/stages.ts)
   */
  stageMap: z.record(z.string(), z.record(z.string(), z.string().trim().min(1))).optional(),
  /** Push Bitrix24 quotes to Xero as quotes, with their edits and stage changes. (Default: true) */
  quoteSync: z.boolean().default(true),
  /**
   * Bitrix24 quote stage id → the Xero quote status it asks for (SENT, ACCEPTED, DECLINED, DELETED), e.g.
   * `{ "SENT": "SENT", "APPROVED": "ACCEPTED" }`. (Default: empty — the success stage means ACCEPTED, a failure stage
   * DECLINED, the last in-progress stage SENT, from the stage semantics)
   */
  quoteStageMap: z.record(z.string(), z.enum(['SENT', 'ACCEPTED', 'DECLINED', 'DELETED'])).default({}),
  /**
   * Document numbers in Xero: `xero` lets Xero number invoices and quotes; `bitrix24` sends the Bitrix24 number as
   * the Xero number. (Default: xero)
   */
  documentNumbering: z.enum(['xero', 'bitrix24']).default('xero'),
  /** Xero branding theme (BrandingThemeID) for pushed quotes. (Default: none — the organisation's default theme) */
  brandingThemeId: z.string().uuid().nullable().default(null),
  /** What goes into the Xero invoice's Reference: the Bitrix24 number or the document's title. (Default: number) */
  reference: z.enum(['number', 'title']).default('number'),
  /**
   * Bitrix24 is the master for contact details: a change made in Xero to a linked contact's name, email, phone,
   * website, tax number or address is not written to Bitrix24, and Xero gets the Bitrix24 value back (Bitrix24's
   * changes still go to Xero). (Default: false — the last writer wins, field by field)
   */
  bitrixMasterForContacts: z.boolean().default(false),
  /**
   * Optional Xero tracking category filled from a Bitrix24 field: the category's id and the field's name
   * (e.g. `ufCrm_Region`); the field's value names the option. (Default: none)
   */
  tracking: z.object({ categoryId: z.string().trim().min(1).max(64), field: z.string().trim().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'name a Bitrix24 field such as ufCrm_Region') }).nullable().default(null),
});

export type PortalSettings = z.infer<typeof settingsSchema>;

/** The key of a VAT rate in `taxRateMap`: "20" for 20 %, "7.5" for 7.5 %, "none" for no VAT. */
export function taxRateKey(rate: { toString(): string } | null): string {
  return rate === null ? 'none' : rate.toString();
}
