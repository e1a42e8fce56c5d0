"""Broker fixtures come from tests/conftest.py (defined in tests/bus/brokers.py)."""
