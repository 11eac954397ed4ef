"""Benchmarks (`make bench`, or `python -m bench [--quick]`): print figures, not part of the test run.

- ``ack``       ack latency and throughput of `/ona policies` and of an Approve click over HTTP
                (`ona-bot serve` on gunicorn), side by side with the floor: a bare Bolt app that only
                acks, served by the very same server code and settings (``floor_app``). Once with Ona
                (the emulator) answering at once, once with 5 s of delay on every Ona call.
- ``approvals`` requests created, approved and executed per second through ApprovalFlow, and
                Store.transition against a raw sqlite3 loop doing the same conditional UPDATEs.
- ``startup``   time from starting `ona-bot serve` until GET /healthz answers 200 (peak RSS is
                read in ``ack``, under its load).
- ``investigate`` / ``variant``  (`--investigate`) the bot with one candidate fix made in memory.

Everything listens on and talks to 127.0.0.1 only; every load is bounded in count and in time.
"""
