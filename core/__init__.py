"""Pieces both halves of Consentry stand on: config, SQL store, errors, API keys, signing."""
