"""Chaos clients for epoll-lab: seeded misbehaviour as data, recorded as a history, replayable.

Standard library only (what Debian's ``python3`` package ships), so the package runs unchanged in the
lab's clients container and on the host.
"""
