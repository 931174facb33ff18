"""gridmap tiles."""
