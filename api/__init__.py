"""gridmap api."""
