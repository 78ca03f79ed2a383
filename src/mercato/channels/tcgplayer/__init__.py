"""TCGplayer: no API a store may use; its seller portal exchanges CSV files. The inventory file
is the catalog's (``catalog.csvio``); the order export is read here (``orders_csv``)."""
