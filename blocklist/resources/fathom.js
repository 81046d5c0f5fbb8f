/*
 * pixelwall stand-in for Fathom Analytics' script.js. Pages call
 * fathom.trackEvent(...) and fathom.trackGoal(...) directly, with no stub,
 * often in click handlers: this fathom object answers them and sends
 * nothing. Written for pixelwall from Fathom's public JavaScript API
 * documentation; Apache-2.0.
 */
(function () {
  'use strict';
  var w = window;
  if (w.fathom && w.fathom.pixelwall) {
    return;
  }
  function noop() {}
  w.fathom = {
    pixelwall: true,
    trackPageview: noop,
    trackEvent: noop,
    trackGoal: noop,
    setSite: noop,
    blockTrackingForMe: noop,
    enableTrackingForMe: noop,
    isTrackingEnabled: function () { return false; }
  };
})();
