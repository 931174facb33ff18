{% macro script(this, kwargs) %}
(function() {
  var codes = new Set({{ this.codes|tojson }});
  {{ this.grids.get_name() }}.eachLayer(function(layer) {
    var p = layer.feature.properties;
    if (codes.has(p.code)) {
      {{ this.target.get_name() }}.addData({type: 'Feature', geometry:
        layer.feature.geometry, properties: {grid_code: p.code, area_m2: p.area_m2}});
    }
  });
})();
{% endmacro %}
