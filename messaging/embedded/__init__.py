"""The embedded backend: moto run inside Flowdash, and everything that knows its insides.

Flowdash reads and patches moto's internals for four reasons, each in one module
here and nowhere else:

- ``server``: starts moto's threaded server on a loopback port;
- ``inprocess``: Flowdash's own boto3 requests reach that server without HTTP;
- ``fastpath``: the same answers at a flat cost and bounded memory;
- ``fixes``: answers corrected where moto differs from SQS;
- ``broker``: the embedded observer's hooks (every client's operations, reported
  as they happen), and the broker's state read without requests;
- ``filtering``: AWS's filter-policy rules in place of moto's;
- ``contents``: a queue's messages read without receiving them;
- ``persistence``: moto's state kept across restarts in the var directory.

All of them are checked against the moto versions in ``version``; on any other
the server runs stock moto and says so.
"""

from __future__ import annotations

from .server import EmbeddedServer

__all__ = ["EmbeddedServer"]
