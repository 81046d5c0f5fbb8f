/*
 * pixelwall stand-in for Google Tag Manager (gtm.js) and the Google tag
 * (gtag.js), which share one dataLayer protocol. It answers what pages wait
 * for and loads no tags, sends nothing:
 *   - gtag('event', name, {event_callback: fn}) and
 *     dataLayer.push({event: name, eventCallback: fn}) call fn;
 *   - gtag('get', target, field, fn) calls fn;
 *   - the anti-flicker snippet's dataLayer.hide.end() is called and the
 *     "async-hide" class removed, so a page that hid itself shows.
 * The dataLayer's name is the script URL's "l" parameter, as with the real
 * scripts. Written for pixelwall from Google's public tag documentation;
 * Apache-2.0.
 */
(function () {
  'use strict';
  var w = window;
  var d = document;
  var src = d.currentScript && d.currentScript.src ? d.currentScript.src : '';

  function param(key) {
    var m = new RegExp('[?&]' + key + '=([^&#]*)').exec(src);
    return m ? decodeURIComponent(m[1].replace(/\+/g, ' ')) : '';
  }

  var layerName = param('l') || 'dataLayer';
  var id = param('id');
  var dl = w[layerName];
  if (!dl || typeof dl.push !== 'function') {
    dl = w[layerName] = [];
  }

  function later(fn, arg) {
    if (typeof fn === 'function') {
      setTimeout(function () { fn(arg); }, 0);
    }
  }

  // handle answers one dataLayer entry: gtag() pushes its arguments object,
  // GTM pages push plain objects.
  function handle(entry) {
    if (!entry || typeof entry !== 'object') {
      return;
    }
    if (typeof entry.length === 'number' && typeof entry[0] === 'string') {
      var cmd = entry[0];
      if (cmd === 'get') {
        later(entry[3], undefined);
        return;
      }
      for (var i = entry.length - 1; i > 0; i--) {
        if (entry[i] && typeof entry[i] === 'object') {
          later(entry[i].event_callback, undefined);
          return;
        }
      }
      return;
    }
    later(entry.eventCallback, id);
  }

  // releaseHide undoes the anti-flicker snippet: its end() shows the page;
  // the class is removed as well, in case end() is gone or was replaced.
  function releaseHide() {
    var h = dl.hide;
    if (h && typeof h.end === 'function') {
      var end = h.end;
      h.end = null;
      end();
    }
    var root = d.documentElement;
    if (root && typeof root.className === 'string' && root.className.indexOf('async-hide') >= 0) {
      root.className = root.className.replace(/\s*\basync-hide\b/g, '');
    }
  }

  // A second copy (gtm.js and gtag.js on one page) finds the layer already
  // answered and only releases the page.
  if (!dl.pixelwall) {
    try {
      Object.defineProperty(dl, 'pixelwall', { value: true });
    } catch (e) {
      // A frozen or odd dataLayer: answer it all the same.
    }
    var pending = Array.prototype.slice.call(dl);
    var push = dl.push;
    dl.push = function () {
      var n = push.apply(dl, arguments);
      for (var i = 0; i < arguments.length; i++) {
        handle(arguments[i]);
      }
      return n;
    };
    for (var i = 0; i < pending.length; i++) {
      handle(pending[i]);
    }
  }
  if (id) {
    var gtm = w.google_tag_manager = w.google_tag_manager || {};
    if (!gtm[id]) {
      gtm[id] = {
        dataLayer: {
          get: function () { return undefined; },
          set: function () {},
          reset: function () {}
        }
      };
    }
  }
  releaseHide();
})();
