"""Avro schemas of the event log, shipped as package data."""
