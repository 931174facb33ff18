{% macro script(this, kwargs) %}
(function() {
  var map = {{ this._parent.get_name() }}, control = {{ this.control.get_name() }};
  var served = /^https?:$/.test(location.protocol), datum = {{ this.datum|tojson }};
  var note = L.control({position: 'bottomright'});
  note.onAdd = function() {
    var div = L.DomUtil.create('div', 'gm-nobase leaflet-control');
    div.textContent = '无底图';
    div.title = '未选底图：可在右上角图层列表中选择办公室底图';
    div.style.cssText = 'background:rgba(255,255,255,.85);padding:2px 8px;border-radius:4px;'
      + 'font-size:12px;color:#555';
    return div;
  };
  // Leaflet puts a layer's name and attribution in as HTML: titles are written by people
  function text(s) { var d = document.createElement('div'); d.textContent = s; return d.innerHTML; }
  function noted(key) { if (key === 'none') { note.addTo(map); } else { note.remove(); } }
  {{ this.choices|tojson }}.forEach(function(c) {
    var reload = c.datum !== datum;
    if (reload && !served) { return; }
    var options = {subdomains: c.subdomains, attribution: text(c.attribution), maxZoom: 22,
      maxNativeZoom: c.maxzoom || 18};
    if (c.bounds) { options.bounds = c.bounds; }
    var layer = c.url && !reload ? L.tileLayer(c.url, options) : L.layerGroup();
    layer.gridmapBasemap = c.key;
    layer.gridmapReload = reload;
    control.addBaseLayer(layer, text(c.name));
    if (c.key === {{ this.current|tojson }}) { layer.addTo(map); noted(c.key); }
  });
  map.on('baselayerchange', function(e) {
    noted(e.layer.gridmapBasemap);
    if (!e.layer.gridmapReload) { return; }
    var url = new URL(location.href);
    url.searchParams.set('basemap', e.layer.gridmapBasemap);
    location.assign(url.href);
  });
  // a served city or region map: 打印 opens it on the workbench's print page
  if (served && /^\/maps(\/region\/[^/]+)?$/.test(location.pathname)) {
    var print = L.control({position: 'topleft'});
    print.onAdd = function() {
      var a = L.DomUtil.create('a', 'gm-print-link leaflet-bar');
      a.href = '/workbench/print?view=' + encodeURIComponent(location.pathname + location.search);
      a.textContent = '打印';
      a.title = '打印这张地图 (PDF/PNG)';
      a.style.cssText = 'background:#fff;padding:3px 7px;font-size:13px;color:#333';
      return a;
    };
    print.addTo(map);
  }
})();
{% endmacro %}
