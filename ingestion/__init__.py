"""Reading register deliveries (SAS, Danish CSV, Parquet) into statservice's Parquet layout.

``ingest(source, mapping, out)`` maps the delivery's variable names and codes onto
``synthetic_registers.schema``, validates it, and writes a new data version with its catalog and
a validation report; it refuses (writing nothing) what would silently change answers. It imports
nothing of ours but ``synthetic_registers`` (the schema, the catalog's enumerations and the Parquet
writer), so a delivery becomes exactly what the generator writes.
"""
