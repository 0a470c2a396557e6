"""The ``bsam`` subcommands of the analyses layer: ``hessian``, ``plot`` and ``reproduce``.

Each module defines ``register(subparsers)`` (argparse only) and ``run(args) -> int``; they are
listed in the ``bsam.commands`` entry-point group and discovered by :func:`bsam.cli.main`.
"""
