/*
 * pixelwall stand-in for the legacy Google Analytics ga.js. It answers the
 * _gaq command queue (commands queued before it loaded and later ones) and
 * _gat's trackers, calls a hitCallback set with _set after each hit, follows
 * _link(url), and sends nothing. Written for pixelwall from Google's public
 * ga.js reference; Apache-2.0.
 */
(function () {
  'use strict';
  var w = window;
  if (w._gat && w._gat.pixelwall) {
    return;
  }
  var trackers = {};
  var hits = ['_trackPageview', '_trackEvent', '_trackTrans', '_trackSocial', '_trackTiming'];

  function Tracker(account, name) {
    this.account = account || '';
    this.name = name || '';
    this.fields = {};
  }
  Tracker.prototype._getAccount = function () { return this.account; };
  Tracker.prototype._setAccount = function (a) { this.account = a; };
  Tracker.prototype._getName = function () { return this.name; };
  Tracker.prototype._set = function (k, v) { this.fields[k] = v; };
  Tracker.prototype._get = function (k) { return this.fields[k]; };
  Tracker.prototype._getLinkerUrl = function (url) { return url; };
  Tracker.prototype._link = function (url) {
    if (url) {
      w.location.href = url;
    }
  };
  Tracker.prototype._linkByPost = function (form) {
    return true;
  };
  hits.forEach(function (m) {
    Tracker.prototype[m] = function () {
      var cb = this.fields.hitCallback;
      if (typeof cb === 'function') {
        setTimeout(function () { cb(); }, 0);
      }
    };
  });
  // Every other tracker method (_setDomainName, _addTrans, _addItem, ...)
  // is a no-op; unknown ones are answered by the command queue below.
  ['_setDomainName', '_setAllowLinker', '_addTrans', '_addItem', '_setCustomVar', '_deleteCustomVar',
    '_setSiteSpeedSampleRate', '_anonymizeIp', '_addOrganic', '_setCampaignTrack', '_setCookiePath',
    '_setSampleRate', '_setLocalRemoteServerMode', '_setVar', '_initData', '_clearTrans'].forEach(function (m) {
    Tracker.prototype[m] = function () {};
  });

  function tracker(name) {
    name = name || '';
    if (!trackers[name]) {
      trackers[name] = new Tracker('', name);
    }
    return trackers[name];
  }

  var gat = {
    pixelwall: true,
    _getTracker: function (account) { var t = new Tracker(account); return t; },
    _createTracker: function (account, name) { var t = tracker(name); t.account = account || t.account; return t; },
    _getTrackerByName: function (name) { return tracker(name); },
    _anonymizeIp: function () {},
    _forceSSL: function () {}
  };

  // run answers one _gaq command: a function, or [("name.")method, args...].
  function run(cmd) {
    if (typeof cmd === 'function') {
      cmd();
      return;
    }
    if (!cmd || typeof cmd[0] !== 'string') {
      return;
    }
    var name = '';
    var method = cmd[0];
    var dot = method.lastIndexOf('.');
    if (dot > 0) {
      name = method.slice(0, dot);
      method = method.slice(dot + 1);
    }
    var t = tracker(name);
    if (typeof t[method] === 'function') {
      t[method].apply(t, Array.prototype.slice.call(cmd, 1));
    }
  }

  var queued = w._gaq && typeof w._gaq.length === 'number' ? Array.prototype.slice.call(w._gaq) : [];
  w._gat = gat;
  w._gaq = {
    push: function () {
      for (var i = 0; i < arguments.length; i++) {
        run(arguments[i]);
      }
      return 0;
    }
  };
  for (var i = 0; i < queued.length; i++) {
    try {
      run(queued[i]);
    } catch (e) {
      setTimeout(function () { throw e; }, 0);
    }
  }
})();
