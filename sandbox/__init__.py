"""A stand-in for the Equinix upstream (Work Visits v2 and what surrounds it), served by its own process.

It speaks the upstream's documented wire protocol with its own validation, demo catalogue, fault
injection and clock; it imports nothing of the portal, so it can catch the portal's misreadings.
Run it with ``python -m sandbox``.
"""
