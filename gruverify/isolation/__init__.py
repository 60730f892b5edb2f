"""Isolation: the target runs in a worker process that the checker talks to.

``protocol`` (the messages, their version, arrays as bytes), ``worker`` (the worker's main loop,
``python -m gruverify.isolation.worker``; importable with numpy and gruverify alone) and
``client`` (``build_isolated`` and ``IsolatedTarget``, the checker's side: time limits, killing
and restarting the worker, a dead worker as ``TargetDied``). docs/checker.md, "Isolation".

Nothing is imported here, so starting a worker imports only what the worker needs.
"""
