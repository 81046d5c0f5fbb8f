/*
 * pixelwall stand-in for Microsoft Advertising's UET tag, bat.js. The
 * install snippet calls "new UET({ti: ..., q: uetq})" once the script has
 * loaded and puts the object in window.uetq; this UET accepts the queue and
 * every later uetq.push(...) and sends nothing. Written for pixelwall from
 * Microsoft's public UET documentation; Apache-2.0.
 */
(function () {
  'use strict';
  var w = window;
  if (typeof w.UET === 'function') {
    return;
  }
  function UET(options) {
    this.options = options || {};
  }
  UET.prototype.push = function () {
    return 0;
  };
  w.UET = UET;
})();
