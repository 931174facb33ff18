{% macro script(this, kwargs) %}
L.control.scale({imperial: false}).addTo({{ this._parent.get_name() }});
{% endmacro %}
