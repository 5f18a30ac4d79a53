// @ts-check
// Frame integration through the official Bitrix24 SDK (@bitrix24/b24jssdk, browser build served by the connector):
// fits the frame to the content and refits when it changes, opens and closes sliders, reads the portal's language.
// https://apidocs.bitrix24.com/sdk/bx24-js-sdk/additional-functions/bx24-resize-window.html
// https://apidocs.bitrix24.com/sdk/bx24-js-sdk/additional-functions/bx24-open-application.html
// Pages import { ready, fit, openSlider, openPath, closeSlider, lang } from './frame.js'.

/** @typedef {import('@bitrix24/b24jssdk').B24Frame} B24Frame */

/** @type {B24Frame | null} */
let b24 = null;
let lastHeight = 0;
let pending = false;

// The height the page needs: the body's content, never the frame's current size (so the frame can also shrink).
function contentHeight() {
  return Math.ceil(document.body.getBoundingClientRect().height);
}

async function resize() {
  if (!b24) return;
  const height = contentHeight();
  if (height === lastHeight || height <= 0) return;
  lastHeight = height;
  document.documentElement.dataset.fittedHeight = String(height);
  // resizeWindow with the width the portal's own fitWindow() sends ("100%"), so the frame keeps following the layout.
  await b24.parent.message.send('resizeWindow', { width: '100%', height, isSafely: true });
}

/** Fits the frame to the content on the next frame (calls in between are folded into one). */
export function fit() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    resize().catch(() => {});
  });
}

/** The SDK once it has started inside Bitrix24; null outside a frame or without the SDK. */
export const ready = (async () => {
  if (!window.B24Js || window.parent === window) return null;
  try {
    b24 = await window.B24Js.initializeB24Frame();
  } catch (err) {
    console.warn('Bitrix24 frame SDK did not start:', err instanceof Error ? err.message : err);
    return null;
  }
  new ResizeObserver(fit).observe(document.body);
  window.addEventListener('load', fit);
  fit();
  return b24;
})();

/** The portal user's language as Bitrix24 tells it ("en", "de", …). */
export function lang() {
  return b24 ? String(b24.getLang()) : document.documentElement.lang;
}

/**
 * Opens the app itself in a portal slider; `view` selects the page (settings, import, history …).
 * @param {string} view
 * @param {Record<string, unknown> & { width?: number }} [options]
 * @param {string} [title]
 */
export async function openSlider(view, options = {}, title = '') {
  const frame = await ready;
  if (!frame) return false;
  await frame.slider.openSliderAppPage({ view, ...options, bx24_width: options.width || 1100, bx24_title: title });
  return true;
}

/**
 * Opens a portal page (a CRM card) in a slider.
 * @param {string} path
 */
export async function openPath(path) {
  const frame = await ready;
  if (!frame) return false;
  await frame.slider.openPath(frame.slider.getUrl(path));
  return true;
}

export async function closeSlider() {
  const frame = await ready;
  if (frame) await frame.slider.closeSliderAppPage();
}

/**
 * The element an event came from, or null (a text node's parent counts).
 * @param {Event} event
 * @returns {Element | null}
 */
export function targetOf(event) {
  const t = event.target;
  return t instanceof Element ? t : t instanceof Node ? t.parentElement : null;
}

document.addEventListener('click', (event) => {
  const target = targetOf(event);
  // Links with data-open-path open portal pages in a slider instead of inside the frame.
  const link = /** @type {HTMLElement | null} */ (target?.closest('a[data-open-path]') ?? null);
  if (link && b24) {
    event.preventDefault();
    void openPath(link.dataset.openPath ?? '');
    return;
  }
  // Buttons with data-open-slider open the app's own view in a slider.
  const opener = /** @type {HTMLElement | null} */ (target?.closest('[data-open-slider]') ?? null);
  if (opener) {
    event.preventDefault();
    void openSlider(opener.dataset.openSlider ?? '', JSON.parse(opener.dataset.sliderOptions || '{}'), opener.dataset.sliderTitle || '');
    return;
  }
  // Buttons with data-close-slider close the slider the page is in.
  if (target?.closest('[data-close-slider]')) void closeSlider();
});
