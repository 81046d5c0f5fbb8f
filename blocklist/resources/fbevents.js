/*
 * pixelwall stand-in for the Meta Pixel's fbevents.js. It completes the fbq
 * object the install snippet creates (callMethod, queue, loaded, version,
 * push), empties the queue of calls made before it loaded, and answers every
 * later fbq('init' | 'track' | 'trackCustom' | ...) call by doing nothing.
 * Written for pixelwall from Meta's public Pixel reference; Apache-2.0.
 */
(function () {
  'use strict';
  var w = window;
  var fbq = w.fbq;
  if (fbq && fbq.pixelwall) {
    return;
  }
  var queued = fbq && fbq.queue && fbq.queue.length ? fbq.queue : [];
  if (typeof fbq !== 'function') {
    fbq = function () {
      fbq.callMethod.apply(fbq, arguments);
    };
  }
  fbq.callMethod = function () {};
  fbq.queue = [];
  fbq.push = fbq;
  fbq.loaded = true;
  fbq.version = fbq.version || '2.0';
  fbq.pixelwall = true;
  fbq.getState = function () {
    return { pixels: [], pluginConfig: {} };
  };
  w.fbq = fbq;
  if (!w._fbq) {
    w._fbq = fbq;
  }
  for (var i = 0; i < queued.length; i++) {
    fbq.callMethod.apply(fbq, queued[i]);
  }
})();
