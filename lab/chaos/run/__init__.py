"""The running: what touches containers and the network, and records a case's history."""
