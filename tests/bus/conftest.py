"""Broker fixtures for the bus tests (defined in tests/bus/brokers.py so they can move)."""

from tests.bus.brokers import kafka_broker, mqtt_broker

__all__ = ["kafka_broker", "mqtt_broker"]
