"""Topology-aware boundary edits: split, merge, reshape and attributes of regions,
validated and committed as a boundary upload (issue 15 section 4)."""
