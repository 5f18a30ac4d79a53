/**
 * Bitrix24's CRM object types (`entityTypeId`, crm.enum.ownertype) of the records the connector reads and writes
 * (docs/reference/bitrix24.md#crm-object-types). Classic invoices (5) are not here: only the deprecated `crm.invoice.*`
 * methods reach them, without a type id.
 */
export const ENTITY_TYPE = { smart_invoice: 31, quote: 7, company: 4, contact: 3, requisite: 8 } as const;
