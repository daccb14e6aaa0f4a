"""The resource check: what one trial asks of the cluster and how many fit at once; impossible
requests are refused with one line (`SweepError`)."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from mmgc.errors import InputError


class SweepError(InputError):
    """A sweep that cannot run as asked (impossible resources, no cluster): one line, exit code 2."""


def check_resources(cpu: float, gpu: float, nodes: Sequence[Mapping[str, float]] | None = None,
                    cluster: Mapping[str, float] | None = None) -> tuple[dict[str, float], int]:
    """The resources one trial asks for and how many trials fit at once; refuse impossible requests.

    ``gpu`` is only asked for when the cluster has GPUs. ``nodes``: each alive node's resources
    (default: from Ray); ``cluster``: `ray.cluster_resources()`."""
    if nodes is None or cluster is None:
        import ray

        cluster = ray.cluster_resources()
        nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    total_gpu = float(cluster.get("GPU", 0.0))
    ask_gpu = gpu if total_gpu > 0 else 0.0
    request = {"cpu": float(cpu), "gpu": float(ask_gpu)}
    describe = ", ".join(f"node {i}: {n.get('CPU', 0):g} CPU, {n.get('GPU', 0):g} GPU" for i, n in enumerate(nodes))
    if ask_gpu > total_gpu:
        raise SweepError(f"resources: a trial asks for {ask_gpu:g} GPU but the cluster declares {total_gpu:g} "
                         f"({describe}); lower resources.gpu")
    fits = [n for n in nodes if n.get("CPU", 0) >= cpu and n.get("GPU", 0) >= ask_gpu]
    if not fits:
        raise SweepError(f"resources: a trial asks for cpu={cpu:g}, gpu={ask_gpu:g} but no node has that much "
                         f"({describe}); lower resources.cpu / resources.gpu")
    capacity = 0
    for n in fits:
        slots = math.floor(n.get("CPU", 0) / cpu + 1e-9)
        if ask_gpu > 0:
            slots = min(slots, math.floor(n.get("GPU", 0) / ask_gpu + 1e-9))
        capacity += slots
    return request, max(1, capacity)
