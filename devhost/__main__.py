"""Entry point: ``python -m devhost``."""

from devhost.cli import main

# The guard matters: worker processes are started with the "spawn" method, which
# re-imports the parent's main module as ``__mp_main__`` in every worker.
if __name__ == "__main__":
    raise SystemExit(main())
