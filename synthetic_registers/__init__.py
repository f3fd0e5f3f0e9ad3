"""Realistic synthetic Danish national registers and their catalog. Imports none of our packages.

Entry points: ``generate.generate_registers(out_dir, persons, seed, ...) -> catalog.Catalog``,
``catalog.Catalog.load(dir)``, ``validation.compare_with_targets(dir)``.

Module map: ``schema`` (the table contract), ``generate`` (chunks in parallel, catalog) → ``chunk``
(one chunk, all tables) → ``population`` (births, deaths, migration around the 1 January 2024
margins), ``conditions`` (onsets by cumulative-hazard inversion, causes of death), ``hospital``
(LPR2/LPR3), ``prescriptions`` (LMDB), ``cancer_register``, ``deaths``, ``socioeconomic`` (UDDA,
IND), ``biobank``; ``writer`` (Arrow/Parquet), ``pseudonyms`` (keyed permutation for pnr),
``codes`` (code lists from ``data/``), ``*_parameters`` (the numbers, with their sources).
"""
