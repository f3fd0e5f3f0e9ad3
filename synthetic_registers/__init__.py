"""Realistic synthetic Danish national registers and their catalog. Imports none of our packages."""
