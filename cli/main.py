"""``medlake``: the command line, one module per subcommand in ``cli.commands``."""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

from azure.core.exceptions import AzureError, ServiceRequestError

import cli.commands
from lib.errors import MedlakeError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medlake",
        description="Land DICOM in the Medlake imaging lake, validate and "
        "de-identify it.",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log debug detail to stderr"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_info in sorted(
        pkgutil.iter_modules(cli.commands.__path__), key=lambda m: m.name
    ):
        module = importlib.import_module(f"cli.commands.{module_info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args))
    except MedlakeError as exc:
        print(f"medlake {args.command}: {exc}", file=sys.stderr)
        return 2
    except ServiceRequestError:
        print(
            f"medlake {args.command}: cannot reach blob storage; is the local "
            "stack up (`make up`), or is MEDLAKE_STORAGE_CONNECTION right?",
            file=sys.stderr,
        )
        return 2
    except AzureError as exc:
        # The SDK's message names the operation and the service's error code.
        print(f"medlake {args.command}: storage error: {exc.message}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"medlake {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
