// @ts-check
// The Xero window closes itself a moment after the connection is saved (the dashboard polls for the result).
setTimeout(() => {
  try {
    window.close();
  } catch {
    // a window the user opened by hand cannot be closed by script; the page says they may close it
  }
}, 2500);
export {};
