"""The self-hosted KiroHub registry: a read-only ClawHub-v1-compatible server over a catalog directory.

``catalog`` reads the catalog (shared with the ``kirohub`` source's ``file:`` mode), ``server`` serves it
over HTTP, ``publish`` adds versions to it and ``cli`` is ``kiroclaw hub``. Nothing here is imported by
the core or the source plugin at start-up.
"""
