/*
 * pixelwall stand-in for Google Analytics analytics.js. It keeps the public
 * ga() API working (command queue, trackers, readiness callbacks, hitCallback)
 * and sends nothing anywhere. Written for pixelwall from Google's public
 * analytics.js reference; Apache-2.0.
 */
(function () {
  'use strict';
  var w = window;
  var name = typeof w.GoogleAnalyticsObject === 'string' ? w.GoogleAnalyticsObject : 'ga';
  var stub = w[name];
  // Leave alone a global of that name that is not Google's snippet (which
  // always sets .l), or that is already answered.
  if (stub && (stub.pixelwall || stub.l === undefined)) {
    return;
  }
  var queued = stub && stub.q && stub.q.length ? stub.q : [];
  var trackers = [];

  // later runs a page callback once, after the current task, as the real
  // library does after a hit is sent.
  function later(fn) {
    if (typeof fn === 'function') {
      setTimeout(function () { fn(); }, 0);
    }
  }

  function Tracker(fields) {
    this.f = fields;
  }
  Tracker.prototype.get = function (key) {
    return this.f[key];
  };
  Tracker.prototype.set = function (key, value) {
    if (key && typeof key === 'object') {
      for (var k in key) {
        if (Object.prototype.hasOwnProperty.call(key, k)) {
          this.f[k] = key[k];
        }
      }
    } else if (typeof key === 'string') {
      this.f[key] = value;
    }
  };
  Tracker.prototype.send = function () {
    send(this, arguments);
  };

  // send calls the hit's hitCallback: from the hit's fields object (its last
  // argument), else from the tracker's fields.
  function send(tracker, args) {
    var last = args.length ? args[args.length - 1] : null;
    var cb = last && typeof last === 'object' ? last.hitCallback : undefined;
    if (typeof cb !== 'function' && tracker) {
      cb = tracker.f.hitCallback;
    }
    later(cb);
  }

  function byName(n) {
    for (var i = 0; i < trackers.length; i++) {
      if (trackers[i].f.name === n) {
        return trackers[i];
      }
    }
    return undefined;
  }

  // create(trackingId, [cookieDomain], [name], [fieldsObject]): any argument
  // may be the fields object instead.
  function create() {
    var fields = {};
    var strings = [];
    for (var i = 0; i < arguments.length; i++) {
      var a = arguments[i];
      if (a && typeof a === 'object') {
        for (var k in a) {
          if (Object.prototype.hasOwnProperty.call(a, k)) {
            fields[k] = a[k];
          }
        }
      } else if (typeof a === 'string') {
        strings.push(a);
      }
    }
    if (strings[0] !== undefined && fields.trackingId === undefined) {
      fields.trackingId = strings[0];
    }
    if (strings[1] !== undefined && fields.cookieDomain === undefined) {
      fields.cookieDomain = strings[1];
    }
    if (strings[2] !== undefined && fields.name === undefined) {
      fields.name = strings[2];
    }
    if (typeof fields.name !== 'string' || fields.name === '') {
      fields.name = 't0';
    }
    var t = byName(fields.name);
    if (t) {
      return t;
    }
    t = new Tracker(fields);
    trackers.push(t);
    return t;
  }

  // ga(command, ...) or ga(readyCallback). Commands are
  // "[trackerName.][pluginName:]method".
  function ga(command) {
    if (typeof command === 'function') {
      command.call(w[name], trackers[0]);
      return;
    }
    if (typeof command !== 'string') {
      return;
    }
    var rest = Array.prototype.slice.call(arguments, 1);
    var dot = command.indexOf('.');
    var trackerName = 't0';
    var method = command;
    if (dot > 0) {
      trackerName = command.slice(0, dot);
      method = command.slice(dot + 1);
    }
    if (method.indexOf(':') >= 0) {
      return; // plugin methods (ec:addProduct, linker:autoLink): nothing to do
    }
    var t = byName(trackerName);
    switch (method) {
      case 'create':
        create.apply(null, rest);
        break;
      case 'send':
        // A page waiting on hitCallback (to navigate, to submit a form) gets
        // it even without a tracker.
        send(t, rest);
        break;
      case 'set':
        if (t) {
          t.set(rest[0], rest[1]);
        }
        break;
      case 'remove':
        if (t) {
          trackers.splice(trackers.indexOf(t), 1);
        }
        break;
    }
  }

  ga.create = create;
  ga.getAll = function () {
    return trackers.slice();
  };
  ga.getByName = function (n) {
    return byName(n) || null;
  };
  ga.remove = function (n) {
    var t = byName(n);
    if (t) {
      trackers.splice(trackers.indexOf(t), 1);
    }
  };
  ga.loaded = true;
  ga.l = stub && stub.l ? stub.l : +new Date();
  ga.q = [];
  ga.pixelwall = true;
  w[name] = ga;

  // One failing command must not stop the rest of the queue; its error
  // still reaches the page's console.
  for (var i = 0; i < queued.length; i++) {
    try {
      ga.apply(null, queued[i]);
    } catch (e) {
      setTimeout(function () { throw e; }, 0);
    }
  }
})();
