"""The HTTP transport of the app's storage clients.

Two defaults of the SDK stack cost CPU on every request, and the pipeline makes
several requests per upload:

- ``requests`` re-reads the proxy variables of the whole process environment
  on each request. The Function App reaches storage directly or through its
  VNet, so its clients skip that unless ``MEDLAKE_STORAGE_PROXY_FROM_ENV`` is
  set; the CLI, run on-premises behind proxies, always honours them.
- azure-core reads response bodies 4 KiB at a time; a DICOM download then costs
  a hundred Python iterations per half megabyte.
"""

from __future__ import annotations

import requests
from azure.core.pipeline.transport import RequestsTransport
from requests.adapters import HTTPAdapter

__all__ = ["READ_BLOCK_BYTES", "direct_transport"]

READ_BLOCK_BYTES = 1024 * 1024
# Connections kept per host. A worker process runs several invocations at once,
# each with a few writes in flight; requests keeps 10 by default and drops (and
# later reopens) the connections beyond that.
POOL_CONNECTIONS = 32


def direct_transport() -> RequestsTransport:
    """A transport that ignores proxy variables and reads in 1 MiB blocks.

    Each client needs its own: the transport owns its connection pool and is
    closed with the client.
    """
    session = requests.Session()
    session.trust_env = False
    adapter = HTTPAdapter(pool_maxsize=POOL_CONNECTIONS)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return RequestsTransport(
        session=session,
        session_owner=True,
        connection_data_block_size=READ_BLOCK_BYTES,
    )
