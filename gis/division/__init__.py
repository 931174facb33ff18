"""Automatic grid division (网格划分): a region cut into draft grids of about a target number
of households along its roads — street blocks (``blocks``) grouped into contiguous, compact
grids (``partition``), measured (``measures``) and drafted from the stored data (``draft``)."""
