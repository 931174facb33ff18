{% macro script(this, kwargs) %}
(function() {
  var legend = L.control({position: 'bottomleft'});
  legend.onAdd = function() {
    var div = L.DomUtil.create('div', 'gm-legend');
    div.innerHTML = {{ this.html|tojson }};
    return div;
  };
  legend.addTo({{ this._parent.get_name() }});
})();
{% endmacro %}
