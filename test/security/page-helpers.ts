/** Page sessions for the attack tests on what the pages cost. */
import type { Environment } from '../helpers/env.js';

/** A page session of the user, as their app page would hand it to its scripts. */
export function sessionOf(env: Environment, userId: number): string {
  const user = env.b24.portal.user(userId);
  return env.c.services.sessions.issue({ memberId: env.memberId, userId, isAdmin: user.admin, userName: user.name, authId: env.b24.frameAuth(userId).AUTH_ID });
}
