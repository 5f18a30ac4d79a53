/**
 * The labels of Bitrix24 list fields. A list (`enumeration`) user field reads in `crm.item.get` as the chosen
 * option's id ("45"), while people — and Xero tracking options — know it by its label ("North"). The options are
 * read once per field and kept for a few minutes: `crm.item.fields` names the field's type and upper-case name,
 * `userfieldconfig.list` finds its id, and `userfieldconfig.get` lists its options (`enum`, each `id` and `value`).
 */
import type { PortalClient } from './portal-client.js';

const KEEP_MS = 10 * 60_000;

interface FieldInfo {
  type?: string;
  upperName?: string;
}

export class ListLabels {
  readonly #known = new Map<string, { at: number; labels: Promise<ReadonlyMap<string, string> | null> }>();

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * The options of a list field of a CRM item type, id → label; null when the field is no list field (its values are
   * already what people see). A field Bitrix24 does not know is no list field.
   */
  async of(client: PortalClient, memberId: string, entityTypeId: number, field: string): Promise<ReadonlyMap<string, string> | null> {
    const key = `${memberId}:${entityTypeId}:${field.toLowerCase()}`;
    const known = this.#known.get(key);
    if (known && this.now() - known.at < KEEP_MS) return known.labels;
    const labels = read(client, entityTypeId, field);
    this.#known.set(key, { at: this.now(), labels });
    // A failed read is not kept: the next document asks again.
    labels.catch(() => this.#known.delete(key));
    return labels;
  }
}

async function read(client: PortalClient, entityTypeId: number, field: string): Promise<ReadonlyMap<string, string> | null> {
  // https://apidocs.bitrix24.com/api-reference/crm/universal/crm-item-fields.html
  const { fields } = await client.call<{ fields: Record<string, FieldInfo> }>('crm.item.fields', { entityTypeId });
  const info = Object.entries(fields ?? {}).find(([k]) => k.toLowerCase() === field.toLowerCase())?.[1];
  if (!info || info.type !== 'enumeration' || !info.upperName) return null;
  // https://apidocs.bitrix24.com/api-reference/crm/universal/userfieldconfig/userfieldconfig-list.html
  const list = await client.call<{ fields: { id: string; fieldName: string }[] }>('userfieldconfig.list', { moduleId: 'crm', filter: { fieldName: info.upperName } });
  const config = (list.fields ?? []).find((f) => f.fieldName === info.upperName);
  if (!config) return null;
  // https://apidocs.bitrix24.com/api-reference/crm/universal/userfieldconfig/userfieldconfig-get.html
  const got = await client.call<{ field: { enum?: { id: string | number; value: string }[] } }>('userfieldconfig.get', { moduleId: 'crm', id: config.id });
  return new Map((got.field?.enum ?? []).map((o) => [String(o.id), String(o.value)]));
}
