import { openStore, type Store } from '../../app/store/index.js';
import { tempDir } from './tmp.js';

export const TEST_SECRET = 'test-secret-with-enough-length-0123456789';

/** A fresh store in a temporary folder, with the given portals installed (no tokens). */
export async function testStore(...memberIds: string[]): Promise<Store> {
  const store = await openStore(tempDir(), TEST_SECRET);
  for (const memberId of memberIds) {
    await store.portals.upsert({
      memberId, domain: `${memberId}.example.com`, clientEndpoint: `https://${memberId}.example.com/rest/`,
      serverEndpoint: 'https://oauth.bitrix.info/rest/', accessToken: null, refreshToken: null, expiresAt: null,
      applicationToken: null, scope: null, installedBy: 1, state: 'installed',
    });
  }
  return store;
}
