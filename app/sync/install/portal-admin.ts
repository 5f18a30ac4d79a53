/**
 * What an operator (whoever runs the connector, not a portal user) may do with portals, from the command line
 * (`npm run portal -- <command>`, scripts/portal.ts):
 *   list                     every portal with its state, endpoint and pending purge
 *   restore <member_id>      keep an uninstalled portal's data (cancels the purge after CLEAN); reinstalling the app
 *                            then finds its links and history again
 *   relocate <member_id>     let an uninstalled portal be installed again at another endpoint (a moved portal)
 *   purge <member_id>        delete an uninstalled portal's data now
 * Each answers one line per portal or a sentence saying what was done, or why not.
 */
import type { Store } from '../../store/index.js';

export const PORTAL_COMMANDS = ['list', 'restore', 'relocate', 'purge'] as const;

export async function runPortalCommand(store: Store, args: string[]): Promise<{ ok: boolean; lines: string[] }> {
  const [command, memberId] = args;
  if (command === 'list') {
    const portals = await store.portals.list();
    if (portals.length === 0) return { ok: true, lines: ['No portals.'] };
    return {
      ok: true,
      lines: portals.map((p) =>
        [p.memberId, p.state, p.clientEndpoint, p.purgeAt ? `purge after ${new Date(p.purgeAt).toISOString()}` : '', p.relocationAllowed ? 'may move' : '']
          .filter(Boolean)
          .join('  '),
      ),
    };
  }
  if (!PORTAL_COMMANDS.includes(command as (typeof PORTAL_COMMANDS)[number]) || !memberId) {
    return { ok: false, lines: [`Usage: npm run portal -- ${PORTAL_COMMANDS.join('|')} [member_id]`] };
  }
  const portal = await store.portals.get(memberId);
  if (!portal) return { ok: false, lines: [`No portal ${memberId} is stored here (already purged?).`] };
  if (portal.state !== 'uninstalled') return { ok: false, lines: [`Portal ${memberId} is ${portal.state}; ${command} applies to uninstalled portals only.`] };
  switch (command) {
    case 'restore':
      await store.transaction(async () => {
        await store.portals.cancelPurge(memberId);
        await store.activity.record({ memberId, level: 'info', kind: 'portal.restored', message: 'An operator kept this portal\'s data; it is not purged. Reinstall the app to sync again.' });
      });
      return { ok: true, lines: [`Portal ${memberId} (${portal.domain}) is kept; reinstall the app in Bitrix24 to sync again.`] };
    case 'relocate':
      await store.transaction(async () => {
        await store.portals.allowRelocation(memberId);
        await store.activity.record({ memberId, level: 'warn', kind: 'portal.relocation_allowed', message: `An operator allowed this portal to be installed again at another address than ${portal.domain}.` });
      });
      return { ok: true, lines: [`Portal ${memberId} may now be installed at another address (it was ${portal.domain}).`] };
    default:
      await store.portals.purge(memberId);
      return { ok: true, lines: [`Portal ${memberId} (${portal.domain}) and all its data were deleted.`] };
  }
}
