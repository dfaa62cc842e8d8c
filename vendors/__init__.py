"""Vendor plugins: pure discovery and parsing of Bronze files. No Dagster imports here.

The core finds plugins through the `pointline.vendors` entry-point group (see
`vendors.registry`), never by name.
"""
