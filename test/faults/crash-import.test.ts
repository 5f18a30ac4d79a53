// Fault campaign, crash part two: the connector process is killed with SIGKILL half-way through an import from Xero
// (it resumes: no company or contact twice, the summary counts every planned record once) and during contact sync
// each way (each change ends on both sides once, with no echo). The push's kill points are in crash.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from './mix.js';
import { startProcessBed, type ProcessBed } from './process-bed.js';
import { seedXeroContacts } from '../import/bed.js';

describe('fault campaign: SIGKILL during the import and contact sync', () => {
  it('when the connector is killed half-way through an import from Xero and during contact sync each way, then the import resumes without duplicates and its summary adds up, and each contact change ends on both sides once, with no echo', async () => {
    const bed = await startProcessBed(tempDir());
    const { b24, xero, tenantId, url } = bed;
    try {
      xero.configureWebhook({ url: `${url}/xero/webhooks` });
      // 9. Import: 300 organisations (each with a contact person) and 50 people; killed while companies are written.
      seedXeroContacts(bed, 300, 50);
      const runId = ((await (await bed.api('/api/import/preview', { body: { what: ['companies', 'contacts'] } })).json()) as { runId: number }).runId;
      const runState = () => bed.withStore(async (s) => (await s.imports.run(runId))?.state);
      await waitFor('the import previewed', async () => (await runState()) === 'previewed', 60_000, 20);
      assert.equal((await bed.api(`/api/import/${runId}/start`)).status, 200);
      await waitFor('companies being written', () => b24.items(4).length >= 60, 60_000, 2);
      await bed.killAndRestart();
      assert.ok(b24.items(4).length < 300, 'killed before the import ended');
      await waitFor('the import done after the restart', async () => (await runState()) === 'done', 120_000, 100);
      const titles = b24.items(4).map((c) => String(c.title));
      assert.equal(new Set(titles).size, titles.length, 'no company twice');
      assert.equal(titles.filter((t) => /^Org \d+ Ltd$/.test(t)).length, 300, 'every organisation imported');
      const people = b24.items(3).map((c) => `${c.name} ${c.lastName}`);
      assert.equal(new Set(people).size, people.length, 'no contact twice');
      assert.equal(people.length, 300 + 300 + 50, 'primary person and contact person of each organisation, and the people');
      await bed.withStore(async (s) => {
        const { remaining, ...outcome } = await s.imports.outcomeCounts(runId);
        assert.equal(remaining, 0);
        assert.deepEqual(outcome, (await s.imports.plannedCounts(runId)), 'the summary counts every planned record once');
      });
      await waitFor('an idle queue after the import', () => bed.idle(), 60_000, 100);

      // 10. Bitrix24 → Xero: a company renamed; killed while its Xero contact is being updated.
      const renamed = b24.items(4).find((c) => c.title === 'Org 00001 Ltd')!;
      const renamedLink = await bed.withStore(async (s) => (await s.links.find(b24.memberId, 'company', String(renamed.id)))!);
      xero.setFaults({ latencyMs: 150 });
      let mark = xero.requestLog.length;
      let b24Mark = b24.callLog.length;
      b24.actAs(1).updateItem(4, Number(renamed.id), { title: 'Org One Holdings Ltd' });
      await b24.flushEvents();
      await waitFor('the Xero contact update in flight', () => xero.requestLog.slice(mark).some((r) => r.endpoint === 'POST /Contacts'), 30_000, 1);
      await bed.killAndRestart();
      xero.setFaults({});
      const xeroName = () => String(xero.contacts(tenantId).find((c) => String(c.ContactID).toLowerCase() === renamedLink.xeroId)?.Name);
      await waitFor('the new name in Xero', () => xeroName() === 'Org One Holdings Ltd', 60_000, 50);
      await xero.flushWebhooks();
      await waitFor('an idle queue after the rename', () => bed.idle(), 60_000, 100);
      await assertContactAgreed(bed, 'company', String(renamed.id), { name: 'Org One Holdings Ltd' });
      assert.equal(xero.contacts(tenantId).filter((c) => c.Name === 'Org One Holdings Ltd').length, 1, 'one Xero contact has the name');
      assert.equal(String(b24.items(4).find((c) => c.id === renamed.id)!.title), 'Org One Holdings Ltd', 'Bitrix24 keeps the new name');
      assert.ok(xero.requestLog.slice(mark).filter((r) => r.endpoint === 'POST /Contacts').length <= 2, 'the rename went to Xero once (again at most once after the kill)');
      assert.deepEqual(companyWrites(bed, b24Mark), [], 'no echo into Bitrix24');

      // 11. Xero → Bitrix24: a phone changed in Xero; killed while the company is being updated in Bitrix24.
      const phoned = b24.items(4).find((c) => c.title === 'Org 00002 Ltd')!;
      const phonedLink = await bed.withStore(async (s) => (await s.links.find(b24.memberId, 'company', String(phoned.id)))!);
      b24.setFaults({ latencyMs: 150 });
      mark = xero.requestLog.length;
      b24Mark = b24.callLog.length;
      xero.updateContact(tenantId, phonedLink.xeroId, { Phones: [{ PhoneType: 'DEFAULT', PhoneNumber: '777 0000', PhoneAreaCode: '4', PhoneCountryCode: '64' }] });
      void xero.flushWebhooks();
      await waitFor('the Bitrix24 company update in flight', () => companyWrites(bed, b24Mark).length > 0, 60_000, 1);
      await bed.killAndRestart();
      b24.setFaults({});
      const phones = () => ((b24.items(4).find((c) => c.id === phoned.id)!.fm ?? []) as { typeId: string; value: string }[]).filter((f) => f.typeId === 'PHONE').map((f) => f.value);
      await waitFor('the new phone in Bitrix24', () => phones().includes('+64 4 777 0000'), 60_000, 50);
      await b24.flushEvents();
      await waitFor('an idle queue after the phone change', () => bed.idle(), 60_000, 100);
      assert.deepEqual(phones(), ['+64 4 777 0000'], 'the phone replaced once, not added twice');
      await assertContactAgreed(bed, 'company', String(phoned.id), { phone: '+64 4 777 0000' });
      assert.equal(xero.requestLog.slice(mark).filter((r) => r.endpoint === 'POST /Contacts').length, 0, 'no echo into Xero');
    } finally {
      await bed.close();
    }
  });
});

/** Bitrix24 company updates since `mark` (direct or in a batch). */
function companyWrites(bed: ProcessBed, mark: number): string[] {
  return bed.b24.callLog.slice(mark).filter((c) => c.method === 'crm.company.update').map((c) => c.method);
}

/** The details both sides last agreed on (kept on the link) hold `expected`: nothing is left to send either way. */
async function assertContactAgreed(bed: ProcessBed, type: 'company' | 'contact', id: string, expected: Record<string, string>): Promise<void> {
  await bed.withStore(async (s) => {
    const link = (await s.links.find(bed.b24.memberId, type, id))!;
    const agreed = (await s.links.contactFields<Record<string, unknown>>(link.id)) ?? {};
    for (const [k, v] of Object.entries(expected)) assert.equal(JSON.stringify(agreed[k]).includes(v), true, `agreed ${k}: ${JSON.stringify(agreed[k])}`);
  });
}
