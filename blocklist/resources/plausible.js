/*
 * pixelwall stand-in for Plausible Analytics' script. plausible(event,
 * {callback}) calls the callback (pages navigate from it) and sends
 * nothing; calls queued in plausible.q by the documented stub are answered
 * too. Written for pixelwall from Plausible's public script documentation;
 * Apache-2.0.
 */
(function () {
  'use strict';
  var w = window;
  var stub = w.plausible;
  if (stub && stub.pixelwall) {
    return;
  }
  var queued = stub && stub.q && stub.q.length ? stub.q : [];
  function plausible(event, options) {
    if (options && typeof options.callback === 'function') {
      var cb = options.callback;
      setTimeout(function () { cb({ status: 0 }); }, 0);
    }
  }
  plausible.pixelwall = true;
  plausible.q = [];
  w.plausible = plausible;
  for (var i = 0; i < queued.length; i++) {
    try {
      plausible.apply(null, queued[i]);
    } catch (e) {
      setTimeout(function () { throw e; }, 0);
    }
  }
})();
