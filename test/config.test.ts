import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig, prepareDataDir, resolveAppSecret } from '../app/config.js';
import { tempDir } from './helpers/tmp.js';

function problemsOf(env: Record<string, string>): string[] {
  try {
    parseConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected the configuration to be refused');
}

describe('runtime configuration', () => {
  it('when nothing is set, then every documented default applies', () => {
    const c = parseConfig({});
    assert.equal(c.port, 3000);
    assert.equal(c.publicUrl, 'http://localhost:3000');
    assert.equal(c.dataDir, path.resolve('./data'));
    assert.equal(c.appSecret, undefined);
    assert.equal(c.bitrix.oauthUrl, 'https://oauth.bitrix.info');
    assert.equal(c.bitrix.portalUrl, undefined);
    assert.equal(c.bitrix.uninstallGraceDays, 7);
    assert.equal(c.bitrix.allowInsecureLoopback, false, 'plain-http portal endpoints only when asked for');
    assert.equal(c.xero.grantType, 'authorization_code');
    assert.equal(c.xero.apiUrl, 'https://api.xero.com');
    assert.equal(c.xero.identityUrl, 'https://identity.xero.com');
    assert.equal(c.xero.loginUrl, 'https://login.xero.com');
    assert.equal(c.pollIntervalSeconds, 60);
    assert.equal(c.logLevel, 'info');
  });

  it('when PORT is set without PUBLIC_URL, then the public URL follows the port', () => {
    assert.equal(parseConfig({ PORT: '8080' }).publicUrl, 'http://localhost:8080');
  });

  it('when base URLs end with slashes, then they are stored without them', () => {
    const c = parseConfig({ XERO_API_URL: 'http://127.0.0.1:9000/', PUBLIC_URL: 'https://connector.example.com//' });
    assert.equal(c.xero.apiUrl, 'http://127.0.0.1:9000');
    assert.equal(c.publicUrl, 'https://connector.example.com');
  });

  it('when several variables are bad, then each is named on its own line with the value it had', () => {
    const problems = problemsOf({
      PORT: 'eighty',
      POLL_INTERVAL_SECONDS: '10',
      XERO_API_URL: 'ftp://x',
      XERO_GRANT_TYPE: 'password',
      LOG_LEVEL: 'loud',
      APP_SECRET: 'short',
    });
    assert.equal(problems.length, 6);
    const byName = (n: string) => problems.find((p) => p.startsWith(`${n} `));
    assert.match(byName('PORT')!, /whole number.*"eighty"/);
    assert.match(byName('POLL_INTERVAL_SECONDS')!, /at least 30.*"10"/);
    assert.match(byName('XERO_API_URL')!, /http:\/\/ or https:\/\//);
    assert.match(byName('XERO_GRANT_TYPE')!, /authorization_code or client_credentials/);
    assert.match(byName('LOG_LEVEL')!, /one of fatal, error/);
    assert.match(byName('APP_SECRET')!, /at least 32 characters/);
  });

  it('when the poll interval is above 300 seconds, then it is refused', () => {
    assert.match(problemsOf({ POLL_INTERVAL_SECONDS: '301' })[0], /POLL_INTERVAL_SECONDS must be at most 300/);
  });

  it('when B24_PORTAL_URL or UNINSTALL_GRACE_DAYS is bad, then each is named; good values are kept', () => {
    const problems = problemsOf({ B24_PORTAL_URL: 'crm.example.com', UNINSTALL_GRACE_DAYS: '400' });
    assert.ok(problems.some((p) => /^B24_PORTAL_URL must be an absolute/.test(p)), problems.join('\n'));
    assert.ok(problems.some((p) => /^UNINSTALL_GRACE_DAYS must be at most 365/.test(p)), problems.join('\n'));
    const c = parseConfig({ B24_PORTAL_URL: 'https://crm.example.com/', UNINSTALL_GRACE_DAYS: '0' });
    assert.equal(c.bitrix.portalUrl, 'https://crm.example.com');
    assert.equal(c.bitrix.uninstallGraceDays, 0);
  });

  it('when a custom connection lacks its credentials, then the start is refused with the fix', () => {
    assert.match(problemsOf({ XERO_GRANT_TYPE: 'client_credentials' })[0], /needs XERO_CLIENT_ID and XERO_CLIENT_SECRET/);
  });

  it('when only half of a client id/secret pair is given, then the missing half is named', () => {
    const problems = problemsOf({ B24_CLIENT_ID: 'local.1', XERO_CLIENT_SECRET: 's' });
    assert.equal(problems.length, 2);
    assert.ok(problems.some((p) => p.includes('B24_CLIENT_ID and B24_CLIENT_SECRET')));
    assert.ok(problems.some((p) => p.includes('XERO_CLIENT_ID and XERO_CLIENT_SECRET')));
  });
});

describe('data folder and generated secret', () => {
  it('when APP_SECRET is absent, then one is generated once into DATA_DIR with mode 0600 and reused', () => {
    const dir = tempDir();
    const config = parseConfig({ DATA_DIR: dir });
    const first = resolveAppSecret(config);
    const file = path.join(dir, 'app-secret');
    assert.ok(existsSync(file));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(first.length >= 32);
    assert.equal(resolveAppSecret(config), first);
    assert.equal(readFileSync(file, 'utf8').trim(), first);
  });

  it('when APP_SECRET is set, then no secret file is written', () => {
    const dir = tempDir();
    const secret = 'x'.repeat(40);
    assert.equal(resolveAppSecret(parseConfig({ DATA_DIR: dir, APP_SECRET: secret })), secret);
    assert.equal(existsSync(path.join(dir, 'app-secret')), false);
  });

  it('when DATA_DIR is a file, then the start is refused naming the folder and the fix', () => {
    const dir = tempDir();
    const file = path.join(dir, 'not-a-folder');
    writeFileSync(file, '');
    assert.throws(
      () => prepareDataDir(path.join(file, 'data')),
      (err: unknown) => err instanceof ConfigError && /DATA_DIR .*not-a-folder.*cannot be used.*point DATA_DIR/.test(err.message),
    );
  });
});
