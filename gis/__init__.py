"""gridmap gis."""
