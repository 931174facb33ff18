{% macro script(this, kwargs) %}
{{ this.grids.get_name() }}searchControl.options.buildTip = function(text) {
  var tip = L.DomUtil.create('li', '');
  tip.textContent = text;
  return tip;
};
{{ this.grids.get_name() }}searchControl.on('search:locationfound', function(e) {
  {{ this._parent.get_name() }}.once('moveend', function() {
    e.layer.fire('click', {latlng: e.layer.getBounds().getCenter()}, true);
  });
});
{% endmacro %}
