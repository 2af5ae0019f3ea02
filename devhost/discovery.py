"""Find the functions of a ``FunctionApp`` the way the Python worker indexes them.

The v2 programming model has no ``function.json``: the host asks the worker to
index the app, and the worker reports each function's trigger binding. The dev
host reads the same information from ``app.get_functions()``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "EVENT_GRID_TRIGGER",
    "HTTP_TRIGGER",
    "TIMER_TRIGGER",
    "AppLoadError",
    "FunctionSpec",
    "discover_functions",
    "load_app",
]

logger = logging.getLogger(__name__)

HTTP_TRIGGER = "httpTrigger"
EVENT_GRID_TRIGGER = "eventGridTrigger"
TIMER_TRIGGER = "timerTrigger"
SUPPORTED_TRIGGERS = (HTTP_TRIGGER, EVENT_GRID_TRIGGER, TIMER_TRIGGER)
ALL_HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


class AppLoadError(RuntimeError):
    """The app named by ``--app`` cannot be imported or is not a FunctionApp."""


def load_app(reference: str) -> Any:
    """Import ``module:attribute`` and return the ``FunctionApp`` it names.

    Parameters
    ----------
    reference : str
        For example ``function_app:app``; the module is imported from the
        current working directory, like the Python worker does from the app root.

    Returns
    -------
    Any
        The object, checked to have ``get_functions``.
    """
    module_name, _, attribute = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise AppLoadError(
            f"importing {module_name} failed ({type(exc).__name__}); run "
            f"`python -c 'import {module_name}'` from the app root to see why"
        ) from exc
    app = getattr(module, attribute, None)
    if app is None or not hasattr(app, "get_functions"):
        raise AppLoadError(f"{reference} is not a FunctionApp")
    return app


def _plain(value: Any) -> Any:
    # Binding dictionaries hold enums (HttpMethod, AuthLevel); keep their values.
    return getattr(value, "value", value)


@dataclass(frozen=True)
class FunctionSpec:
    """One function of the app, as the host sees it.

    Parameters
    ----------
    name : str
        The function name (``get_function_name()``).
    trigger : str
        Trigger binding type: ``httpTrigger``, ``eventGridTrigger`` or
        ``timerTrigger``.
    argument : str
        Name of the parameter that receives the trigger input.
    user_function : Callable[..., Any]
        The decorated Python function.
    route : str
        HTTP only: the route template below ``/api``.
    methods : tuple[str, ...]
        HTTP only: allowed methods (all when the decorator lists none).
    auth_level : str
        HTTP only: ``anonymous``, ``function`` or ``admin``.
    schedule : str
        Timer only: the NCRONTAB expression.
    run_on_startup : bool
        Timer only: run once when the host starts.
    """

    name: str
    trigger: str
    argument: str
    user_function: Callable[..., Any] = field(repr=False, compare=False)
    route: str = ""
    methods: tuple[str, ...] = ()
    auth_level: str = "function"
    schedule: str = ""
    run_on_startup: bool = False

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary for ``/runtime/status``."""
        summary: dict[str, Any] = {"name": self.name, "trigger": self.trigger}
        if self.trigger == HTTP_TRIGGER:
            summary.update(
                route=self.route, methods=list(self.methods), authLevel=self.auth_level
            )
        if self.trigger == TIMER_TRIGGER:
            summary["schedule"] = self.schedule
        return summary


def discover_functions(app: Any) -> list[FunctionSpec]:
    """List the app's functions with their trigger settings.

    Functions whose trigger the dev host cannot run are logged and skipped, so
    the rest of the app still starts (Core Tools likewise reports functions it
    cannot load and serves the others).
    """
    specs: list[FunctionSpec] = []
    for function in app.get_functions():
        name = function.get_function_name()
        bindings: Sequence[Any] = function.get_bindings()
        trigger = next(
            (b for b in bindings if str(_plain(b.type)).endswith("Trigger")), None
        )
        if trigger is None or trigger.type not in SUPPORTED_TRIGGERS:
            logger.warning(
                "function %s skipped: trigger %s is not supported by the dev host",
                name,
                getattr(trigger, "type", "none"),
            )
            continue
        extra = [
            b.type
            for b in bindings
            if b is not trigger and not (b.type == "http" and b.name == "$return")
        ]
        if extra:
            # Input/output bindings other than the HTTP response need the
            # extension bundle of the real host; the app uses SDK clients instead.
            logger.warning(
                "function %s: bindings %s are ignored by the dev host", name, extra
            )

        settings = {k: _plain(v) for k, v in trigger.get_dict_repr().items()}
        methods = (
            tuple(str(_plain(m)).upper() for m in settings.get("methods") or ())
            or ALL_HTTP_METHODS
        )
        specs.append(
            FunctionSpec(
                name=name,
                trigger=trigger.type,
                argument=trigger.name,
                user_function=function.get_user_function(),
                route=str(settings.get("route") or name).strip("/"),
                methods=methods if trigger.type == HTTP_TRIGGER else (),
                auth_level=str(settings.get("authLevel") or "function").lower(),
                schedule=str(settings.get("schedule") or ""),
                run_on_startup=bool(settings.get("runOnStartup", False)),
            )
        )
    return specs
