"""Running many independent jobs on Ray: local Ray by default, a cluster at ``ray_address``.

Used by policy-search trials (:mod:`augkit.policy_search.trials`) and by ``augkit compare
--backend ray``.  Each job is ``fn(spec)`` with a JSON-like spec, shipped to a worker as a Ray
Tune trial with its CPU / GPU-fraction request; ``fn`` writes its own results (run directories),
which the caller reads back — Tune's state is bookkeeping only.  Ray is an optional dependency
(the ``.[search]`` extra): importing this module does not import it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["check_address", "init_ray", "ray_map", "require_ray"]


def require_ray() -> tuple[Any, Any]:
    """``(ray, ray.tune)``, or an ImportError that says which extra installs them."""
    try:
        import ray
        from ray import tune
    except ImportError as e:
        raise ImportError(f"the ray backend needs Ray Tune: pip install -e '.[search]' ({e})") from None
    return ray, tune


def check_address(address: str | None, timeout: float = 5.0) -> None:
    """Fail fast on a ``host:port`` (or ``ray://host:port``) nobody listens on: ``ray.init`` waits minutes."""
    import socket

    if not address or address == "auto":
        return
    hostport = address.split("://", 1)[-1]
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--ray-address must be host:port, ray://host:port or auto, got {address!r}")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as e:
        raise ValueError(f"--ray-address {address!r}: nothing answers there ({e}); start the cluster with "
                         f"`ray start --head` or omit --ray-address for a local Ray") from None  # fmt: skip


def _tune_entry(config: dict) -> None:
    from ray import tune

    info = config["fn"](config["spec"])
    tune.report({k: v for k, v in info.items() if isinstance(v, (int, float))})


def init_ray(opts: dict) -> tuple[Any, Any]:
    """Start (once per process) a local Ray of ``opts["cpus"]`` CPUs, or join ``opts["ray_address"]``."""
    ray, tune = require_ray()
    if not ray.is_initialized():
        address = opts.get("ray_address")
        check_address(address)
        try:
            ray.init(
                address=address,
                num_cpus=None if address else opts.get("cpus"),
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise ValueError(f"--ray-address {address!r}: cannot reach a Ray cluster ({e})") from None
    return ray, tune


def ray_map(fn: Callable[[dict], dict], specs: list[dict], storage: Path, opts: dict) -> None:
    """Run ``fn(spec)`` for every spec as a Ray Tune trial with its resource request; raise if any fails."""
    _, tune = init_ray(opts)
    resources = {"cpu": opts.get("cpus_per_trial", 1), "gpu": opts.get("gpus_per_trial", 0)}
    tuner = tune.Tuner(
        tune.with_resources(_tune_entry, resources),
        param_space={"fn": fn, "spec": tune.grid_search(specs)},
        run_config=tune.RunConfig(
            storage_path=str(storage.resolve()),
            name=f"batch-{int(time.time() * 1e3)}",
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=0),
        ),
    )
    grid = tuner.fit()
    errors = [r.error for r in grid if r.error is not None]
    if errors:
        raise RuntimeError(f"{len(errors)} of {len(specs)} trials failed; first: {errors[0]}")
