/**
 * Forged uninstalls against a portal whose stored access token has expired (issue 21, item 1). Every portal user's
 * browser holds the application token, so anyone can post ONAPPUNINSTALL with CLEAN; the connector then asks the
 * portal, and renewing the expired token on the way must never turn into "uninstalled": refresh tokens are single-use
 * (a second renewal with the same one is refused with invalid_grant, docs/reference/bitrix24.md#oauth-tokens), so only one renewal of a
 * portal's pair may run at a time, and a refused renewal is not Bitrix24 saying the app is gone.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { refreshAtOAuthServer } from '../../app/bitrix/portal-identity.js';
import { startEnvironment, type Environment } from '../helpers/env.js';
import { nowTs, postForm, salespersonInvoice } from './bitrix-helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits by condition, bounded so a broken run goes on (and fails its assertions) instead of hanging. */
async function until(condition: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await sleep(10);
}

describe('forged uninstalls racing a token renewal', () => {
  let env: Environment;
  afterEach(async () => env?.close());

  /** What a non-admin's browser gets with every app page: the application token. */
  const applicationToken = () => env.b24.frameAuth(2).APPLICATION_TOKEN!;

  const forgedUninstall = (token: string, ts = nowTs()) =>
    postForm(`${env.c.url}/events`, {
      event: 'ONAPPUNINSTALL', ts, 'data[CLEAN]': '1', 'data[LANGUAGE_ID]': 'en',
      'auth[member_id]': env.memberId, 'auth[application_token]': token,
    });

  /** The stored access token has expired, at the portal and in the store (as after an idle hour). */
  async function expireStoredAccessToken(): Promise<void> {
    env.b24.expireAccessTokens();
    const p = (await env.c.store.portals.get(env.memberId))!;
    await env.c.store.portals.saveTokens(env.memberId, { accessToken: p.accessToken!, refreshToken: p.refreshToken!, expiresAt: Math.floor(Date.now() / 1000) - 60 });
    env.c.services.portals.forget(env.memberId);
    env.b24.resetCounters();
  }

  /** Renewal requests at the OAuth server: their HTTP statuses, in order. */
  const renewals = () => env.b24.callLog.filter((c) => c.method === 'oauth/token').map((c) => c.status);

  /** The portal is installed as before, with its tokens, no purge, Xero still connected, and nothing uninstalled. */
  async function assertStillInstalled(): Promise<void> {
    const portal = (await env.c.store.portals.get(env.memberId))!;
    assert.equal(portal.state, 'installed');
    assert.ok(portal.accessToken && portal.refreshToken, 'the tokens are kept');
    assert.equal(portal.purgeAt, null, 'no purge is scheduled');
    assert.equal((await env.c.store.connections.listForPortal(env.memberId))[0]?.state, 'active', 'Xero stays connected');
    assert.ok(!(await env.c.store.activity.list({ memberId: env.memberId })).some((a) => a.kind === 'portal.uninstalled'), 'nothing says uninstalled');
  }

  /** Syncing goes on: an invoice a salesperson makes now reaches Xero as a draft. */
  async function assertStillSyncing(number: string): Promise<void> {
    salespersonInvoice(env.b24, number);
    await env.settle();
    assert.equal(env.xero.invoices(env.tenantId).find((i) => i.Reference === number)?.Status, 'DRAFT', `${number} reached Xero`);
  }

  it('when two forged uninstalls with CLEAN arrive at once after the stored access token expired, then the token is renewed once and the portal stays installed and syncing', async () => {
    env = await startEnvironment();
    const token = applicationToken();
    await expireStoredAccessToken();
    // Renewal requests are held until a second one arrives (bounded), so two renewals would meet at the OAuth server.
    let arrived = 0;
    env.b24.holdRefreshes(async () => {
      arrived += 1;
      await until(() => arrived >= 2, 1500);
    });
    const answers = await Promise.all([forgedUninstall(token, nowTs()), forgedUninstall(token, nowTs(-1))]);
    env.b24.holdRefreshes(null);
    assert.deepEqual(answers.map((r) => r.status), [200, 200]);
    assert.deepEqual(renewals(), [200], 'one renewal, and the renewed refresh token was not presented again');
    await assertStillInstalled();
    await assertStillSyncing('SEC-RACE-2');
  });

  it("when a forged uninstall arrives while the outbox renews the expired token, then the check waits for that renewal and the portal stays installed and syncing", async () => {
    env = await startEnvironment();
    const token = applicationToken();
    salespersonInvoice(env.b24, 'SEC-RACE-Q');
    await env.b24.flushEvents();
    await expireStoredAccessToken();
    // The outbox's renewal arrives first and is held until the uninstall check's would arrive (bounded); a second
    // renewal is let through only after the first was answered, so the outbox's renewal is always the one that wins.
    let arrived = 0;
    env.b24.holdRefreshes(async () => {
      const mine = ++arrived;
      if (mine === 1) await until(() => arrived >= 2, 1500);
      else await until(() => renewals().length >= 1, 1500);
    });
    const draining = env.c.services.outbox.drain();
    await until(() => arrived >= 1, 10_000);
    assert.equal(arrived, 1, 'the outbox is renewing the token');
    const answer = await forgedUninstall(token);
    await draining;
    env.b24.holdRefreshes(null);
    assert.equal(answer.status, 200);
    assert.deepEqual(renewals(), [200], 'the check took the outbox renewal instead of renewing the same token again');
    await assertStillInstalled();
    await env.settle();
    assert.equal(env.xero.invoices(env.tenantId).find((i) => i.Reference === 'SEC-RACE-Q')?.Status, 'DRAFT', 'the invoice the outbox was pushing reached Xero');
    await assertStillSyncing('SEC-RACE-Q2');
  });

  it('when a hundred forged uninstalls with CLEAN arrive at once against an expired token, then one check runs at a time, the token is renewed once and the portal stays installed and syncing', async () => {
    env = await startEnvironment();
    const token = applicationToken();
    await expireStoredAccessToken();
    // Every portal answer takes a moment, so checks that do not wait for one another would overlap at the portal.
    env.b24.setFaults({ latencyMs: 150 });
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => forgedUninstall(token, nowTs(-i))));
    env.b24.setFaults({});
    assert.deepEqual([...new Set(answers.map((r) => r.status))], [200]);
    assert.deepEqual(renewals(), [200], 'one renewal for a hundred checks');
    assert.equal(env.b24.peakConcurrency()['app.info'], 1, 'at most one check asked the portal at a time');
    await assertStillInstalled();
    await assertStillSyncing('SEC-RACE-100');
  });

  it("when the connector's renewal reached Bitrix24 but its answer was lost, then a forged uninstall is not confirmed by the refused renewal and nothing is uninstalled", async () => {
    env = await startEnvironment();
    const token = applicationToken();
    await expireStoredAccessToken();
    // The stored refresh token was spent at the OAuth server; the rotated pair never reached the store.
    await refreshAtOAuthServer(env.c.config.bitrix, (await env.c.store.portals.get(env.memberId))!.refreshToken!);
    env.b24.resetCounters();
    const answer = await forgedUninstall(token);
    assert.equal(answer.status, 200);
    assert.deepEqual(renewals(), [400], 'the renewal was refused (the token was spent)');
    await assertStillInstalled();
    assert.ok(await env.c.store.jobs.findLive(`portal-uninstall:${env.memberId}`), 'the portal is asked again later');
  });

  it('when the app really is uninstalled after the stored access token expired, then the portal says so and the connector forgets the portal', async () => {
    env = await startEnvironment();
    await expireStoredAccessToken();
    await env.b24.uninstall({ clean: true });
    await env.b24.flushEvents();
    const portal = (await env.c.store.portals.get(env.memberId))!;
    assert.equal(portal.state, 'uninstalled');
    assert.equal(portal.refreshToken, null);
    assert.ok(portal.purgeAt, 'the purge is scheduled after the grace period');
    assert.equal((await env.c.store.connections.listForPortal(env.memberId))[0]?.state, 'disconnected');
  });
});
