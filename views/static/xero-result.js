// The Xero consent window closes itself shortly after the connection is made (the dashboard notices by itself).
setTimeout(() => {
  try {
    window.close();
  } catch (e) {
    /* a window the script did not open stays open */
  }
}, 2500);
