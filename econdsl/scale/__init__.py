"""Beyond one process: sweeps on a Ray cluster (:mod:`.ray_engine`) and one run's replicas over several
processes with ``torch.distributed`` (:mod:`.distributed`). Ray is an optional extra; nothing here imports it
before it is asked for."""

from __future__ import annotations

INSTALL_HINT = "pip install -e '.[ray]'"


class EngineUnavailable(RuntimeError):
    """The engine asked for cannot be used here (Ray not installed, no cluster at the address)."""


def make_engine(engine: str, jobs: int = 1, address: str | None = None, cpus_per_run: float = 1.0,
                gpus_per_run: float = 0.0, echo=None):
    """The sweep engine named by ``--engine``: ``local`` (``jobs`` processes here) or ``ray`` (one Ray task per
    run on the cluster at ``address``, or on a local Ray instance sized to this machine without one)."""
    from ..analysis.sweep import LocalEngine

    if engine == "local":
        return LocalEngine(jobs)
    try:
        import ray  # noqa: F401
    except ImportError:
        raise EngineUnavailable(f"--engine ray needs Ray, which is not installed; install it with "
                                f"`{INSTALL_HINT}`") from None
    from .ray_engine import RayEngine

    return RayEngine(address, cpus_per_run, gpus_per_run, echo=echo)
