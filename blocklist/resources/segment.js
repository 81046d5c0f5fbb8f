/*
 * pixelwall stand-in for Segment's Analytics.js (cdn.segment.com). It
 * replaces the install snippet's queueing stub with an analytics object that
 * keeps the public API working and sends nothing: the calls queued before it
 * loaded and every later one are answered, their callbacks run (ready(),
 * track/page/identify/group/alias/screen callbacks), and user() and group()
 * give objects with no identity. Written for pixelwall from Segment's
 * public Analytics.js reference; Apache-2.0.
 */
(function () {
  'use strict';
  var w = window;
  var cs = document.currentScript;
  var name = (cs && cs.getAttribute('data-global-segment-analytics-key')) || 'analytics';
  var stub = w[name];
  if (stub && stub.pixelwall) {
    return;
  }
  var queued = stub && typeof stub.length === 'number' ? Array.prototype.slice.call(stub) : [];

  function later(fn) {
    if (typeof fn === 'function') {
      setTimeout(function () { fn(); }, 0);
    }
  }
  function noop() {}
  function entity() {
    return {
      id: function () { return null; },
      anonymousId: function () { return null; },
      traits: function () { return {}; }
    };
  }

  var analytics = {
    initialized: true,
    invoked: true,
    pixelwall: true,
    VERSION: '0.0.0-pixelwall',
    user: entity,
    group: function () {
      later(lastFunction(arguments));
      return entity();
    },
    ready: function (fn) {
      later(fn);
      return analytics;
    },
    load: noop,
    reset: noop,
    debug: noop,
    on: noop,
    off: noop,
    once: noop,
    use: noop,
    timeout: noop,
    setAnonymousId: noop,
    addSourceMiddleware: noop,
    addIntegrationMiddleware: noop,
    addDestinationMiddleware: noop,
    addIntegration: noop,
    register: function () { return Promise.resolve(); },
    deregister: function () { return Promise.resolve(); },
    trackLink: noop,
    trackClick: noop,
    trackForm: noop,
    trackSubmit: noop,
    push: function (call) {
      if (call && typeof call.length === 'number' && typeof analytics[call[0]] === 'function') {
        analytics[call[0]].apply(analytics, Array.prototype.slice.call(call, 1));
      }
    }
  };

  function lastFunction(args) {
    for (var i = args.length - 1; i >= 0; i--) {
      if (typeof args[i] === 'function') {
        return args[i];
      }
    }
    return undefined;
  }
  // The event calls take their callback last; they return a promise in
  // Analytics 2.0 and the analytics object in the classic library, so the
  // promise is given, resolved.
  ['track', 'page', 'pageview', 'identify', 'alias', 'screen'].forEach(function (m) {
    analytics[m] = function () {
      later(lastFunction(arguments));
      return Promise.resolve();
    };
  });

  if (stub) {
    for (var k in stub) {
      if (Object.prototype.hasOwnProperty.call(stub, k) && !(k in analytics) && isNaN(k)) {
        analytics[k] = stub[k]; // _writeKey, SNIPPET_VERSION, _loadOptions, ...
      }
    }
  }
  w[name] = analytics;
  // One failing callback must not stop the rest of the queue.
  for (var i = 0; i < queued.length; i++) {
    try {
      analytics.push(queued[i]);
    } catch (e) {
      setTimeout(function () { throw e; }, 0);
    }
  }
})();
