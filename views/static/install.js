// @ts-check
// Tells Bitrix24 the installation is complete (until then placements and events stay off).
// https://apidocs.bitrix24.com/settings/app-installation/installation-finish.html
import { ready } from './frame.js';
import { t } from './live.js';

const state = /** @type {HTMLElement} */ (document.getElementById('finish-state'));
try {
  const b24 = await ready;
  if (!b24) throw new Error('not inside Bitrix24');
  await b24.installFinish();
  state.textContent = t('js.install.finished');
  state.dataset.done = 'yes';
} catch {
  state.textContent = t('js.install.unconfirmed');
  state.className = 'alert err';
}
