"""Encode on a Ray cluster with Ray Data: vectors written as resumable parquet shards.

The items come from :func:`embedview.core.loaders.load_paths` (the same formats as everywhere
else).  They are cut into ranges of ``shard_size`` items; a Ray dataset of the ranges still to do
goes through ``map_batches`` with a callable class (one encoder actor per worker, built once
through :mod:`embedview.encoders.registry`, ``num_gpus=1`` when the cluster has GPUs), and each
actor encodes its range with :func:`embedview.encoders.pipeline.encode_dataset` (the
single-process path, cache off) and writes ``part-XXXXX.parquet`` (temp name + rename).  The
driver records finished ranges in ``_embedview_manifest.json``; a rerun skips shards that are in
the manifest and still on disk.  The folder opens with ``load_paths`` as one dataset.

The output folder must be reachable by every worker (a shared filesystem on a real cluster).
``ray`` is imported inside functions only (``pip install embedview[ray]``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

MANIFEST = "_embedview_manifest.json"
DEFAULT_SHARD_SIZE = 1000


def shard_name(k: int) -> str:
    return f"part-{k:05d}.parquet"


class _ShardEncoder:
    """Ray Data callable class: one per actor; builds the encoder once."""

    def __init__(self, dataset_ref: Any, model: str, folder: str, device: str | None, batch_size: int | None):
        import ray

        from embedview.encoders.registry import load_encoder

        self.dataset = ray.get(dataset_ref[0]) if isinstance(dataset_ref, list) else dataset_ref
        self.encoder = load_encoder(model, device=device)
        self.folder = Path(folder)
        self.batch_size = batch_size

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        from embedview.core.export import atomic_path, save_parquet
        from embedview.encoders.pipeline import encode_dataset

        done = []
        for k, start, stop in zip(batch["shard"], batch["start"], batch["stop"], strict=True):
            sub = self.dataset.subset(np.arange(int(start), int(stop)))
            emb = encode_dataset(sub, self.encoder, cache=False, batch_size=self.batch_size)
            with atomic_path(self.folder / shard_name(int(k))) as tmp:  # whole shards only
                save_parquet(emb, tmp)
            done.append(len(emb))
        return {"shard": np.asarray(batch["shard"]), "n_written": np.asarray(done, dtype=np.int64)}


def _read_manifest(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    from embedview.core.export import atomic_path

    with atomic_path(folder / MANIFEST) as tmp:  # a unique temporary name, removed on failure
        tmp.write_text(json.dumps(manifest, indent=1))


def encode_on_ray(dataset, model: str, folder, *, address: str | None = None, shard_size: int = DEFAULT_SHARD_SIZE,
                  device: str | None = None, batch_size: int | None = None, progress=print) -> dict[str, Any]:
    """Encode ``dataset`` with ``model`` on Ray into parquet shards under ``folder``.

    Returns ``{"n_shards", "redone": [shard numbers encoded in this run], "skipped": [...], "n_items"}``.
    """
    import ray

    from embedview.encoders.registry import get_spec

    get_spec(model)  # an unknown name fails here, before a cluster starts or a file is written
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n = len(dataset)
    ranges = [(k, s, min(s + shard_size, n)) for k, s in enumerate(range(0, n, shard_size))]
    manifest = _read_manifest(folder)
    same_job = manifest.get("model") == model and manifest.get("n_items") == n and \
        manifest.get("shard_size") == shard_size and manifest.get("ids_head") == [str(i) for i in dataset.ids[:3]]
    done = {int(k) for k in manifest.get("done", {})} if same_job else set()
    todo = [r for r in ranges if not (r[0] in done and (folder / shard_name(r[0])).exists())]
    skipped = [r[0] for r in ranges if r not in todo]
    manifest = {"model": model, "n_items": n, "shard_size": shard_size,
                "ids_head": [str(i) for i in dataset.ids[:3]],
                "done": {str(k): [s, e] for k, s, e in ranges if k in skipped}}
    _write_manifest(folder, manifest)
    progress(f"ray: {n} items in {len(ranges)} shard(s); {len(skipped)} already done, {len(todo)} to encode")
    if todo:
        started = not ray.is_initialized()
        if started:
            if address:
                ray.init(address=address)
            else:
                ray.init(num_cpus=os.cpu_count(), include_dashboard=False)
        try:
            gpus = ray.cluster_resources().get("GPU", 0)
            workers = max(1, min(len(todo), int(gpus) if gpus else int(ray.cluster_resources().get("CPU", 1))))
            ref = [ray.put(dataset)]
            ds = ray.data.from_items([{"shard": k, "start": s, "stop": e} for k, s, e in todo],
                                     override_num_blocks=len(todo))
            out = ds.map_batches(_ShardEncoder, batch_size=1, concurrency=workers,
                                 num_gpus=1 if gpus else 0, num_cpus=0 if gpus else 1,
                                 fn_constructor_args=(ref, model, str(folder), device, batch_size))
            for i, row in enumerate(out.iter_rows(), 1):
                k = int(row["shard"])
                s, e = ranges[k][1], ranges[k][2]
                manifest["done"][str(k)] = [s, e]
                _write_manifest(folder, manifest)
                progress(f"ray: shard {k} ({e - s} items, {int(row['n_written'])} written) done; "
                         f"{i}/{len(todo)} this run")
        finally:
            if started:
                ray.shutdown()
    return {"n_shards": len(ranges), "redone": [k for k, _, _ in todo], "skipped": skipped, "n_items": n}
