"""A local stand-in for the Azure Functions host (``python -m devhost``).

Azure Functions Core Tools downloads its host at install time, which offline
machines and CI cannot do, so the project runs the same ``FunctionApp`` with this
small host instead: HTTP functions under ``/api``, the Event Grid webhook, a blob
watcher that plays Event Grid for the ``incoming`` container, timer triggers, a
local Event Grid topic and a status endpoint. It holds no business logic.
"""

__all__: list[str] = []
