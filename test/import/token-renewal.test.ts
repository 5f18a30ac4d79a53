// Two processes on one store renewing the same tokens: the connector (this test process, its server and services on
// the shared SQLite file) and `npm run import` (a child process). Refresh tokens are single-use — Bitrix24 answers a
// used one with invalid_grant (docs/reference/bitrix24.md#oauth-tokens), Xero rotates on every refresh (docs/reference/xero.md#oauth) — so exactly one of
// them may renew each token; the other must wait for the lease and take the renewed tokens from the store.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { statusBed } from '../statuses/bed.js';
import { seedXeroContacts } from './bed.js';
import { cli } from './cli.js';

/**
 * Refresh requests are held until both processes have been told their access token expired (two 401s), so both need
 * a renewal at the same moment, and then until a second refresh request arrives or the other process has had ample
 * time to send one (it sends it at once without the lease, and never with it). Waiting is by condition, bounded so
 * a broken run fails instead of hanging; nothing is asserted about time.
 */
function untilBothNeedRenewal(expiredAnswers: () => number): () => Promise<void> {
  let waiting = 0;
  return async () => {
    waiting += 1;
    const deadline = Date.now() + 30_000;
    while (expiredAnswers() < 2 && Date.now() < deadline) await sleep(20);
    const settle = Date.now() + 2_000;
    while (waiting < 2 && Date.now() < settle) await sleep(20);
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('token renewal shared by two processes', () => {
  it('when the connector and the import command line both find their Bitrix24 and Xero tokens expired at once, then each token is renewed once at the emulators and both carry on', async () => {
    const bed = await statusBed();
    seedXeroContacts(bed, 3, 0);
    // Both access tokens expire at the emulators; the store still believes them fresh, so each process first gets a
    // 401 with the shared stale token and then needs the one refresh token.
    bed.b24.expireAccessTokens();
    bed.xero.expireAccessTokens();
    bed.b24.resetCounters();
    bed.xero.resetCounters();
    bed.b24.holdRefreshes(untilBothNeedRenewal(() => bed.b24.callLog.filter((c) => c.status === 401 && c.error === 'expired_token').length));
    bed.xero.holdRefreshes(untilBothNeedRenewal(() => bed.xero.requestLog.filter((e) => e.status === 401).length));
    const grantsBefore = bed.xero.tokenGrants;
    const before = { b24: (await bed.c.store.portals.get(bed.memberId))!.refreshToken, xero: (await bed.c.store.connections.get(bed.connectionId))!.refreshToken };

    const importer = cli(bed, ['--what', 'companies', '--dry-run']);
    const [companies, organisations] = await Promise.all([
      (await bed.c.services.portals.for(bed.memberId)).call<unknown[]>('crm.company.list', { select: ['ID'] }, { idempotent: true }),
      // https://developer.xero.com/documentation/api/accounting/organisation
      bed.c.services.gateways.for(bed.connectionId).call('reading the organisation', (s) => s.xero.accountingApi.getOrganisations(s.tenantId)),
    ]);
    assert.equal(await importer.exited, 0, importer.output());
    assert.match(importer.output(), /Preview: 5 to create/);
    assert.ok(Array.isArray(companies));
    assert.equal(organisations.organisations?.length, 1);

    assert.ok(bed.b24.callLog.filter((c) => c.status === 401 && c.error === 'expired_token').length >= 2, 'both processes met the expired Bitrix24 token');
    assert.ok(bed.xero.requestLog.filter((e) => e.status === 401).length >= 2, 'both processes met the expired Xero token');
    const b24Refreshes = bed.b24.callLog.filter((c) => c.method === 'oauth/token');
    assert.deepEqual(b24Refreshes.map((c) => c.status), [200], 'one Bitrix24 refresh, and no used refresh token presented again');
    assert.deepEqual(bed.xero.refreshTokenUses(), [1], 'one Xero refresh, and no rotated refresh token presented again');
    assert.equal(bed.xero.tokenGrants.refresh_token - grantsBefore.refresh_token, 1);
    assert.equal(bed.xero.tokenGrants.denied, grantsBefore.denied, 'no Xero refresh refused');

    // The store holds the renewed pairs, and they work for the connector afterwards.
    const after = { b24: (await bed.c.store.portals.get(bed.memberId))!.refreshToken, xero: (await bed.c.store.connections.get(bed.connectionId))!.refreshToken };
    assert.notEqual(after.b24, before.b24);
    assert.notEqual(after.xero, before.xero);
    assert.equal((await bed.c.store.connections.get(bed.connectionId))!.state, 'active');
    bed.c.services.portals.forget(bed.memberId);
    assert.equal(String((await (await bed.c.services.portals.for(bed.memberId)).call<{ ID: string }>('profile')).ID), '1');
  });
});
