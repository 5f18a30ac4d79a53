// Tells Bitrix24 the installation is complete (until then placements and events stay off).
// https://apidocs.bitrix24.com/settings/app-installation/installation-finish.html
(async () => {
  const state = document.getElementById('finish-state');
  try {
    const $b24 = await window.B24Js.initializeB24Frame();
    await $b24.installFinish();
    state.textContent = 'Installation finished.';
    state.dataset.done = 'yes';
  } catch (err) {
    state.textContent = 'Bitrix24 did not confirm the installation. Reopen the app from the Applications menu to finish it.';
    state.className = 'alert err';
  }
})();
