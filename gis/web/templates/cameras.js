{% macro script(this, kwargs) %}
(function() {
  var rows = {{ this.rows|tojson }}, R = 6371008.8, rad = Math.PI / 180;
  function esc(t) { return String(t == null ? '' : t).replace(/[&<>]/g,
    function(c) { return {'&': '&amp;', '<': '&lt;', '>': '&gt;'}[c]; }); }
  function ahead(lon, lat, bearing, metres) {
    var d = metres / R, b = bearing * rad, p = lat * rad;
    var q = Math.asin(Math.sin(p) * Math.cos(d) + Math.cos(p) * Math.sin(d) * Math.cos(b));
    var l = lon * rad + Math.atan2(Math.sin(b) * Math.sin(d) * Math.cos(p),
                                   Math.cos(d) - Math.sin(p) * Math.sin(q));
    return [q / rad, l / rad];
  }
  rows.forEach(function(r) {
    var online = r[2] === 1;
    L.circleMarker([r[1], r[0]], {radius: 3, weight: 1, fill: true, fillOpacity: 1,
      color: online ? {{ this.online|tojson }} : {{ this.offline|tojson }},
      className: 'gm-camera'})
      .bindPopup('<b>' + esc(r[7]) + '</b><br>国标编码 ' + esc(r[6]) + '<br>状态 ' +
        (online ? '在线' : '离线') + '<br>方位角 ' + r[3] + '° 视场角 ' + r[4] +
        '° 可视距离 ' + r[5] + ' 米')
      .addTo({{ this.points.get_name() }});
    if (!online) { return; }
    var ring = r[4] >= 360 ? [] : [[r[1], r[0]]];
    var from = r[4] >= 360 ? 0 : r[3] - r[4] / 2, to = r[4] >= 360 ? 360 : r[3] + r[4] / 2;
    for (var b = from; b < to; b += 10) { ring.push(ahead(r[0], r[1], b, r[5])); }
    ring.push(ahead(r[0], r[1], to, r[5]));
    L.polygon(ring, {color: {{ this.online|tojson }}, weight: 0.5, fillOpacity: 0.15,
      interactive: false, className: 'gm-sector'}).addTo({{ this.sectors.get_name() }});
  });
})();
{% endmacro %}
