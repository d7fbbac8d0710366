"""Helpers for test servers and simulations: settle the time-skipping server, replay a season of saves."""
