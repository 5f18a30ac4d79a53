/**
 * Contacts kept in step, both ways, for companies and contacts linked to Xero contacts (by the import or the push).
 *
 * Bitrix24 → Xero (`push-contact` jobs, from ONCRMCOMPANYUPDATE / ONCRMCONTACTUPDATE online and offline and from the
 * reconciliation sweep): read the records with their requisite (one batch per 16) → the fields that differ from the
 * details both sides last agreed on and Xero does not hold already (one read per 50) → one `POST /Contacts` per 50
 * with only those fields → the agreement updated.
 * Xero → Bitrix24 (`pull-contact` jobs from CONTACT webhooks, and the If-Modified-Since poll): read the contacts (≤ 50
 * by id per call, or the changed pages) → the fields that differ from the agreement → Bitrix24 updated in batches
 * (multifields changed in place by their ID, tax number and address in the requisite) → the agreement updated.
 * Conflicts: the side whose change is handled last wins, field by field; the portal setting `bitrixMasterForContacts`
 * makes Bitrix24 the master (Xero's changes are not written to Bitrix24; Xero gets Bitrix24's values back). No echo:
 * the connector's own writes make both sides equal to the agreement, so the events and webhooks they cause find
 * nothing to do.
 */
import { clock } from '../../clock.js';
import { createHash } from 'node:crypto';
import type { Contact } from 'xero-node';
import type { Logger } from '../../log.js';
import { limitOf, type BatchCalls, type PortalClients } from '../../bitrix/portal-client.js';
import { detailsUpdateCommands, readDetails, type B24Details } from '../../bitrix/customers.js';
import type { Store } from '../../store/index.js';
import type { Job } from '../../store/jobs.js';
import type { Link } from '../../store/links.js';
import type { XeroGateways } from '../../xero/gateway.js';
import { contactPages, contactsById, updateContacts, type XeroParty } from '../../xero/contact-reader.js';
import type { JobHandler, JobOutcome } from '../outbox.js';
import { portalSettings } from '../settings.js';
import { outcomeOf } from '../outbox.js';
import { detailsOfB24, detailsOfParty } from './contact-details.js';
import { addressFromText, changedFields, type ContactDetails, type DetailField } from '../../domain/contact-details.js';
import { mapEach } from '../../async-lists.js';

export const PUSH_CONTACT_JOB = 'push-contact';
export const PULL_CONTACT_JOB = 'pull-contact';

/** The outbox key of a customer's push-contact job. */
export function pushContactKey(memberId: string, type: 'company' | 'contact', id: string): string {
  return `push-contact:${memberId}:${type}:${id}`;
}

export interface SyncContactsDeps { store: Store; portals: PortalClients; gateways: XeroGateways; logger: Logger }

export interface ContactSyncReport { xeroCalls: number; read: number; updated: number }

export class SyncContacts {
  constructor(private readonly deps: SyncContactsDeps) {}

  // ---- Bitrix24 → Xero ---------------------------------------------------------------------------------------

  readonly pushHandler: JobHandler = { batchSize: 50, run: (jobs) => this.guard(jobs, () => this.push(jobs)) };

  private async push(jobs: Job[]): Promise<void> {
    const { store } = this.deps;
    const memberId = jobs[0]!.memberId!;
    const linked: { type: 'company' | 'contact'; id: string; link: Link }[] = [];
    for (const p of jobs.map((j) => j.payload as { type: 'company' | 'contact'; id: string })) {
      const link = await store.links.find(memberId, p.type, String(p.id));
      if (link?.xeroType === 'contact' && link.connectionId !== null) linked.push({ ...p, link });
    }
    if (!linked.length) return;
    const details = await readDetails(await this.deps.portals.for(memberId), linked.map((x) => ({ kind: x.type, id: String(x.id) })));
    const byConnection = new Map<number, { link: Link; now: ContactDetails; changed: DetailField[] }[]>();
    for (const x of linked) {
      const d = details.get(`${x.type}:${x.id}`);
      if (!d) continue; // deleted meanwhile
      const now = detailsOfB24(d);
      const agreed = await store.links.contactFields<ContactDetails>(x.link.id);
      const changed = changedFields(now, agreed).filter((f) => !(f === 'name' && !now.name));
      if (!changed.length) continue; // nothing new: the connector's own write coming back, or an unrelated field
      const list = byConnection.get(x.link.connectionId!) ?? [];
      list.push({ link: x.link, now, changed });
      byConnection.set(x.link.connectionId!, list);
    }
    for (const [connectionId, found] of byConnection) {
      const gateway = this.deps.gateways.for(connectionId);
      // Fields Xero already holds are not sent (Xero's own change written to Bitrix24 by a run killed before it
      // recorded the agreement): no echo into Xero. One read per 50 contacts.
      const inXero = new Map((await contactsById(gateway, found.map((c) => c.link.xeroId.toLowerCase()))).map((p) => [p.contactId.toLowerCase(), detailsOfParty(p)]));
      const changes = found.map((c) => {
        const x = inXero.get(c.link.xeroId.toLowerCase());
        return { ...c, sending: x ? c.changed.filter((f) => (x[f] ?? '') !== (c.now[f] ?? '')) : c.changed };
      });
      const bodies = changes.filter((c) => c.sending.length).map((c) => xeroContactOf(c.link.xeroId, c.now, c.sending));
      const refused = bodies.length ? await updateContacts(gateway, bodies, (chunk) => `contacts-sync:${hash(chunk)}`) : new Map<string, string>();
      await store.transaction(async () => {
        for (const c of changes) {
          if (refused.has(c.link.xeroId)) {
            await store.activity.record({ memberId, level: 'warn', kind: 'contact.refused', subject: `${c.link.b24Type}:${c.link.b24Id}`, message: `Xero did not take the change of "${c.now.name}": ${refused.get(c.link.xeroId)}` });
            continue;
          }
          await store.links.setContactFields(c.link.id, merge((await store.links.contactFields<ContactDetails>(c.link.id)), c.now, c.changed));
        }
      });
    }
  }

  // ---- Xero → Bitrix24 ---------------------------------------------------------------------------------------

  readonly pullHandler: JobHandler = { batchSize: 50, run: (jobs) => this.guard(jobs, () => this.pullJobs(jobs)) };

  private async pullJobs(jobs: Job[]): Promise<void> {
    const byConnection = new Map<number, string[]>();
    for (const j of jobs) {
      const p = j.payload as { connectionId: number; contactId: string };
      byConnection.set(Number(p.connectionId), [...(byConnection.get(Number(p.connectionId)) ?? []), String(p.contactId).toLowerCase()]);
    }
    for (const [connectionId, ids] of byConnection) {
      const parties = await contactsById(this.deps.gateways.for(connectionId), [...new Set(ids)]);
      await this.apply(connectionId, parties);
    }
  }

  /** The If-Modified-Since poll of contacts: changed pages since the watermark, applied to linked records. */
  async pollConnection(connectionId: number): Promise<ContactSyncReport> {
    const { store } = this.deps;
    const report: ContactSyncReport = { xeroCalls: 0, read: 0, updated: 0 };
    const connection = await store.connections.get(connectionId);
    if (!connection || connection.state !== 'active' || !await store.links.hasXeroType(connectionId, 'contact')) return report;
    const scope = `connection:${connectionId}`;
    const started = clock.now();
    const since = new Date(Number(await store.watermarks.get(scope, 'xero.contacts') ?? started) - 60_000);
    for await (const page of contactPages(this.deps.gateways.for(connectionId), { includeArchived: true, since })) {
      report.xeroCalls += 1;
      report.read += page.parties.length;
      report.updated += await this.apply(connectionId, page.parties);
    }
    await store.watermarks.set(scope, 'xero.contacts', String(started));
    return report;
  }

  /** Writes Xero's changed fields to the linked Bitrix24 records; returns how many were updated. */
  private async apply(connectionId: number, parties: XeroParty[]): Promise<number> {
    const { store } = this.deps;
    const connection = await store.connections.get(connectionId);
    if (!connection) return 0;
    const memberId = connection.memberId;
    const changes: { link: Link; xero: ContactDetails; changed: DetailField[] }[] = [];
    for (const p of parties) {
      for (const link of (await store.links.findByXero(connectionId, 'contact', p.contactId)).filter((l) => l.b24Type === 'company' || l.b24Type === 'contact')) {
        const xero = detailsOfParty(p);
        const changed = changedFields(xero, await store.links.contactFields<ContactDetails>(link.id)).filter((f) => !(f === 'name' && !xero.name));
        if (changed.length) changes.push({ link, xero, changed });
      }
    }
    if (!changes.length) return 0;
    const client = await this.deps.portals.for(memberId);
    const current = await readDetails(client, changes.map((c) => ({ kind: c.link.b24Type as 'company' | 'contact', id: c.link.b24Id })));
    if ((await portalSettings(store, memberId)).bitrixMasterForContacts) {
      await this.restoreInXero(connectionId, memberId, changes, current);
      return 0;
    }
    let updated = 0;
    for (let i = 0; i < changes.length; i += 12) {
      const chunk = changes.slice(i, i + 12);
      const calls: BatchCalls = {};
      chunk.forEach((c, n) => {
        const d = current.get(`${c.link.b24Type}:${c.link.b24Id}`);
        // Fields Bitrix24 already holds (the connector's own change, killed before it recorded the agreement) are not written again: no echo.
        const differing = d ? c.changed.filter((f) => detailsOfB24(d)[f] !== c.xero[f]) : [];
        if (d && differing.length) Object.assign(calls, detailsUpdateCommands(`c${n}`, c.link.b24Type as 'company' | 'contact', d, c.xero, differing));
      });
      const answer = await client.batch(calls);
      const { errors } = answer;
      await store.transaction(async () => {
        await mapEach(chunk, async (c, n) => {
          const mine = (k: string) => k === `c${n}` || k.startsWith(`c${n}_`);
          // Blocked by the operating time limit: not refused, written once Bitrix24 frees the method (below).
          if (answer.limited.some(mine)) return;
          const failed = Object.entries(errors).find(([k]) => mine(k));
          if (failed || !current.has(`${c.link.b24Type}:${c.link.b24Id}`)) {
            if (failed) await store.activity.record({ memberId, level: 'warn', kind: 'contact.refused', subject: `${c.link.b24Type}:${c.link.b24Id}`, message: `Bitrix24 did not take Xero's change of "${c.xero.name}": ${failed[1]}` });
            return;
          }
          await store.links.setContactFields(c.link.id, merge((await store.links.contactFields<ContactDetails>(c.link.id)), c.xero, c.changed));
          updated += 1;
        });
      });
      limitOf(answer);
    }
    return updated;
  }

  /**
   * Bitrix24 is the master for contact details: Xero's changed fields are set back to the Bitrix24 values (one
   * `POST /Contacts` per 50), Bitrix24 is not written, and the agreement becomes Bitrix24's values, so the webhook
   * that write causes finds nothing to do.
   */
  private async restoreInXero(connectionId: number, memberId: string, changes: { link: Link; xero: ContactDetails; changed: DetailField[] }[], current: Map<string, B24Details>): Promise<void> {
    const { store } = this.deps;
    const restores: { link: Link; b24: ContactDetails; changed: DetailField[]; differing: DetailField[] }[] = [];
    for (const c of changes) {
      const d = current.get(`${c.link.b24Type}:${c.link.b24Id}`);
      if (!d) continue; // deleted in Bitrix24 meanwhile
      const b24 = detailsOfB24(d);
      const differing = c.changed.filter((f) => (b24[f] ?? '') !== (c.xero[f] ?? '') && !(f === 'name' && !b24.name));
      restores.push({ link: c.link, b24, changed: c.changed, differing });
    }
    const bodies = restores.filter((r) => r.differing.length).map((r) => xeroContactOf(r.link.xeroId, r.b24, r.differing));
    const refused = bodies.length ? await updateContacts(this.deps.gateways.for(connectionId), bodies, (chunk) => `contacts-restore:${hash(chunk)}`) : new Map<string, string>();
    await store.transaction(async () => {
      for (const r of restores) {
        if (refused.has(r.link.xeroId)) {
          await store.activity.record({ memberId, level: 'warn', kind: 'contact.refused', subject: `${r.link.b24Type}:${r.link.b24Id}`, message: `Xero did not take back Bitrix24's details of "${r.b24.name}": ${refused.get(r.link.xeroId)}` });
          continue;
        }
        await store.links.setContactFields(r.link.id, merge((await store.links.contactFields<ContactDetails>(r.link.id)), r.b24, r.changed));
        if (r.differing.length) {
          await store.activity.record({ memberId, level: 'info', kind: 'contact.restored', subject: `${r.link.b24Type}:${r.link.b24Id}`, message: `A change made in Xero to "${r.b24.name}" (${r.differing.join(', ')}) was set back to the Bitrix24 values: Bitrix24 is the master for contact details.` });
        }
      }
    });
  }

  private async guard(jobs: Job[], work: () => Promise<void>): Promise<Map<number, JobOutcome>> {
    try {
      await work();
      return new Map();
    } catch (err) {
      const o = outcomeOf(err);
      return new Map(jobs.map((j) => [j.id, o]));
    }
  }
}

function merge(agreed: ContactDetails | null, now: ContactDetails, changed: DetailField[]): ContactDetails {
  const out = { ...(agreed ?? now) } as ContactDetails;
  for (const f of changed) out[f] = now[f];
  return out;
}

function hash(v: unknown): string {
  return createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 40);
}

/** Only the changed fields of a Xero contact (Xero leaves the others as they are). */
function xeroContactOf(contactId: string, d: ContactDetails, changed: DetailField[]): Contact {
  const c: Record<string, unknown> = { contactID: contactId };
  for (const f of changed) {
    if (f === 'name') c.name = d.name;
    if (f === 'email') c.emailAddress = d.email;
    if (f === 'phone') c.phones = [{ phoneType: 'DEFAULT', phoneNumber: d.phone, phoneAreaCode: '', phoneCountryCode: '' }];
    if (f === 'website') c.website = d.website;
    if (f === 'taxNumber') c.taxNumber = d.taxNumber;
    if (f === 'address') {
      const a = addressFromText(d.address);
      c.addresses = [{ addressType: 'STREET', addressLine1: a?.line1 ?? '', addressLine2: a?.line2 ?? '', city: a?.city ?? '', region: a?.region ?? '', postalCode: a?.postalCode ?? '', country: a?.country ?? '' }];
    }
  }
  return c as Contact;
}
