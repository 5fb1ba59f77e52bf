"""The model: cases as data, faults, histories and the checks, pure functions of them. Imports nothing that runs."""
