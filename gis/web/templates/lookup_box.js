{% macro script(this, kwargs) %}
(function() {
  var map = {{ this._parent.get_name() }};
  var grids = {{ this.grids.get_name() if this.grids else 'null' }};
  var apiBase = {{ this.api_base|tojson }}, pointUrl = {{ this.point_url|tojson }};
  var box = L.control({position: 'topright'}), marker = null;
  // where the answer's WGS84 point is drawn: asked of the server when the page is in another
  // datum (GCJ-02 on AMap: gis.geo.crs converts, GET /maps/point), else as it is
  function drawn(point) {
    if (!pointUrl) { return Promise.resolve([point.lon, point.lat]); }
    return fetch(pointUrl + '&lon=' + point.lon + '&lat=' + point.lat)
      .then(function(r) { return r.json(); })
      .then(function(p) { return [p.lon, p.lat]; });
  }
  box.onAdd = function() {
    var div = L.DomUtil.create('div', 'gm-lookup');
    div.innerHTML = '<form><input name="q" placeholder="地址或经度,纬度（WGS84）">' +
      ' <button type="submit">查询网格</button></form><div class="gm-answer"></div>';
    L.DomEvent.disableClickPropagation(div);
    var answer = div.querySelector('.gm-answer');
    div.querySelector('form').onsubmit = function(e) {
      e.preventDefault();
      var q = this.q.value.trim();
      var xy = q.match(/^(-?\d+(?:\.\d+)?)\s*[,，\s]\s*(-?\d+(?:\.\d+)?)$/);
      var url = apiBase + '/api/v1/lookup?' + (xy ?
        'lon=' + xy[1] + '&lat=' + xy[2] : 'address=' + encodeURIComponent(q));
      answer.textContent = '查询中…';
      fetch(url).catch(function() {
        var down = new Error('无法连接查询服务 ' + (apiBase || location.origin) +
          '：请确认 gridmap 服务已启动');
        down.plain = true;
        throw down;
      }).then(function(r) {
        return r.json().then(function(body) { return {ok: r.ok, body: body}; });
      }).then(function(res) {
        var b = res.body;
        if (!res.ok) { answer.textContent = b.message; return; }
        var grid = b.grid || (b.nearest && b.nearest.grid), code = grid && grid.code;
        var hit = null;
        if (grids) {
          grids.eachLayer(function(layer) {
            grids.resetStyle(layer);
            if (layer.feature.properties.code === code) { hit = layer; }
          });
        }
        if (hit) {
          hit.setStyle({color: {{ this.highlight|tojson }}, weight: 5});
          hit.bringToFront();
          map.fitBounds(hit.getBounds());
        }
        return drawn(b.point).then(function(p) {
          if (marker) { map.removeLayer(marker); }
          marker = L.circleMarker([p[1], p[0]], {radius: 6, color: '#000',
            className: 'gm-found'}).addTo(map);
          var where = [b.county, b.street, b.community].filter(Boolean)
            .map(function(r) { return r.name; }).join(' ');
          answer.textContent = b.covered ? '所在网格：' + grid.name + '（' + code + '）' :
            '不在任何网格内' + (where ? '（位于 ' + where + '）' : '') +
            (grid ? '，最近网格：' + grid.name + '（' + b.nearest.distance_m + ' 米）' : '');
          window.gridmapLookup = {code: code, covered: b.covered, point: p};
        });
      }).catch(function(err) {
        answer.textContent = err.plain ? err.message : '查询失败：' + err;
      });
    };
    return div;
  };
  box.addTo(map);
})();
{% endmacro %}
