"""Generated demo data at scale: a province of grids (``province``) written as upload files
and loaded through the upload path (``province_load``), and the cell helpers they share."""
