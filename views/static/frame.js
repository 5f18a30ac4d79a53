// Frame integration through the official Bitrix24 SDK (@bitrix24/b24jssdk, browser build served by the connector):
// fits the frame to the content and refits when it changes, opens and closes sliders, reads the portal's language.
// https://apidocs.bitrix24.com/sdk/bx24-js-sdk/additional-functions/bx24-resize-window.html
// https://apidocs.bitrix24.com/sdk/bx24-js-sdk/additional-functions/bx24-open-application.html
// Pages use window.connectorFrame: { ready, fit(), openSlider(view, options), openPath(path), closeSlider(), lang() }.
(() => {
  let b24 = null;
  let lastHeight = 0;
  let pending = false;

  // The height the page needs: the body's content, never the frame's current size (so the frame can also shrink).
  function contentHeight() {
    return Math.ceil(document.body.getBoundingClientRect().height);
  }

  async function fit() {
    if (!b24) return;
    const height = contentHeight();
    if (height === lastHeight || height <= 0) return;
    lastHeight = height;
    document.documentElement.dataset.fittedHeight = String(height);
    // resizeWindow with the width the portal's own fitWindow() sends ("100%"), so the frame keeps following the layout.
    await b24.parent.message.send('resizeWindow', { width: '100%', height, isSafely: true });
  }

  function scheduleFit() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      fit().catch(() => {});
    });
  }

  const ready = (async () => {
    if (!window.B24Js || window.parent === window) return null;
    try {
      b24 = await window.B24Js.initializeB24Frame();
    } catch (err) {
      console.warn('Bitrix24 frame SDK did not start:', err && err.message);
      return null;
    }
    new ResizeObserver(scheduleFit).observe(document.body);
    window.addEventListener('load', scheduleFit);
    scheduleFit();
    return b24;
  })();

  window.connectorFrame = {
    ready,
    fit: scheduleFit,
    /** The portal user's language as Bitrix24 tells it ("en", "de", …). */
    lang: () => (b24 ? b24.getLang() : document.documentElement.lang),
    /** Opens the app itself in a portal slider; `view` selects the page (settings, import, history …). */
    async openSlider(view, options = {}, title = '') {
      const frame = await ready;
      if (!frame) return false;
      await frame.slider.openSliderAppPage({ view, ...options, bx24_width: options.width || 1100, bx24_title: title });
      return true;
    },
    /** Opens a portal page (a CRM card) in a slider. */
    async openPath(path) {
      const frame = await ready;
      if (!frame) return false;
      await frame.slider.openPath(frame.slider.getUrl(path));
      return true;
    },
    async closeSlider() {
      const frame = await ready;
      if (frame) await frame.slider.closeSliderAppPage();
    },
  };

  // Links with data-open-path open portal pages in a slider instead of inside the frame.
  document.addEventListener('click', (event) => {
    const link = event.target.closest && event.target.closest('a[data-open-path]');
    if (!link || !b24) return;
    event.preventDefault();
    window.connectorFrame.openPath(link.dataset.openPath);
  });
  // Buttons with data-open-slider open the app's own view in a slider.
  document.addEventListener('click', (event) => {
    const button = event.target.closest && event.target.closest('[data-open-slider]');
    if (!button) return;
    event.preventDefault();
    window.connectorFrame.openSlider(button.dataset.openSlider, JSON.parse(button.dataset.sliderOptions || '{}'), button.dataset.sliderTitle || '');
  });
  // Buttons with data-close-slider close the slider the page is in.
  document.addEventListener('click', (event) => {
    if (event.target.closest && event.target.closest('[data-close-slider]')) window.connectorFrame.closeSlider();
  });
})();
