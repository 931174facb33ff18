{% macro script(this, kwargs) %}
(function() {
  var map = {{ this._parent.get_name() }}, control = {{ this.control.get_name() }};
  var served = /^https?:$/.test(location.protocol), datum = {{ this.datum|tojson }};
  {{ this.choices|tojson }}.forEach(function(c) {
    var reload = c.datum !== datum;
    if (reload && !served) { return; }
    var layer = c.url && !reload ? L.tileLayer(c.url, {subdomains: c.subdomains,
      attribution: c.attribution, maxZoom: 18}) : L.layerGroup();
    layer.gridmapBasemap = c.key;
    layer.gridmapReload = reload;
    control.addBaseLayer(layer, c.name);
    if (c.key === {{ this.current|tojson }}) { layer.addTo(map); }
  });
  map.on('baselayerchange', function(e) {
    if (!e.layer.gridmapReload) { return; }
    var url = new URL(location.href);
    url.searchParams.set('basemap', e.layer.gridmapBasemap);
    location.assign(url.href);
  });
})();
{% endmacro %}
