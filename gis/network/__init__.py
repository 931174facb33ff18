"""Walking distances along the road network (pgRouting): the network built from the roads,
distances and coverage of centres by walking, and their service areas (isochrones)."""
