"""`make bench`: Courtside's live path measured on the real stack (see docs/benchmarks.md).

Processes: this package's orchestrator (`python -m tests.bench`) is also the trigger (it makes
changes through bookings.services, so change capture and the publisher run in it); the server
is `manage.py serve` (N daphne workers) with tests.bench.asgi; the viewers are one or more
asyncio client processes (tests.bench.clients, no Django); the limit is a plain `websockets`
server (tests.bench.plain). Files here are not named test_*.py: pytest does not collect them.
"""
