"""Map pages for planners (Folium/Leaflet) and their offline assets.

``styles`` (every colour and outline, shared with the vector map in ``tiles.viewer``), ``page``
(options, base maps, the datum overlays are drawn in, the page's HTML), ``elements`` (the page
parts; scripts and HTML in ``templates/``, styles in ``static/``), ``page_data`` (what the
pages read), ``region_page`` and ``upload_page`` (the two kinds of page), ``map_assets`` (the
pinned npm packages, served from ``/vendor`` or inlined)."""
