"""HTTP routers: thin layers over ``gis``."""
