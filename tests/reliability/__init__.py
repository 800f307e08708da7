"""Reliability and security suite: faults, bad input, secrets, isolation, shutdown."""
