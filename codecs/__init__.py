"""Codec plugins, installed as `bench.codecs` (a top-level `codecs` would shadow the stdlib)."""
