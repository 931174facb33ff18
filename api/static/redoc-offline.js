// ReDoc's side menu shows Redocly's logo from cdn.redoc.ly, and no option turns it off: on an
// intranet that is a request that fails. Images from that host get gridmap's own icon instead.
(function () {
  "use strict";
  var CDN = /^(https?:)?\/\/cdn\.redoc\.ly\//i;
  var ICON = document.querySelector("link[rel=icon]").href;
  var setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    if (this instanceof HTMLImageElement && String(name).toLowerCase() === "src" &&
        CDN.test(String(value))) {
      value = ICON;
    }
    return setAttribute.call(this, name, value);
  };
  var src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    configurable: true,
    enumerable: src.enumerable,
    get: src.get,
    set: function (value) { src.set.call(this, CDN.test(String(value)) ? ICON : value); }
  });
})();
