{% macro script(this, kwargs) %}
(function() {
  var map = {{ this._parent.get_name() }}, zooms = {{ this.zooms|tojson }}, groups = {};
  {{ this.rows|tojson }}.forEach(function(r) {
    var name = document.createElement('span');
    name.textContent = r[3];
    groups[r[2]] = groups[r[2]] || L.layerGroup();
    L.tooltip({permanent: true, direction: 'center', interactive: false,
               className: 'gm-label gm-label-' + r[2]})
      .setLatLng([r[1], r[0]]).setContent(name).addTo(groups[r[2]]);
  });
  var levels = Object.keys(groups).sort(function(a, b) { return zooms[a] - zooms[b]; });
  function show() {
    var z = map.getZoom(), shown = levels[0];
    levels.forEach(function(level) { if (z >= zooms[level]) { shown = level; } });
    levels.forEach(function(level) {
      var on = level === shown;
      if (on && !map.hasLayer(groups[level])) { groups[level].addTo(map); }
      if (!on && map.hasLayer(groups[level])) { map.removeLayer(groups[level]); }
    });
  }
  map.on('zoomend', show);
  map.whenReady(show);
})();
{% endmacro %}
