"""The Ray engine on a local cluster and real text: same vectors as the single-process path,
the folder opens as one dataset, and a rerun redoes only a deleted shard."""
import csv
import os

import numpy as np
import pytest

pytest.importorskip("ray")
pytest.importorskip("ray.data")

DEBIAN = "/tmp/realdata/debian.csv"


@pytest.fixture(scope="module")
def texts_csv(tmp_path_factory):
    if not os.path.exists(DEBIAN):
        pytest.skip(f"{DEBIAN} not here")
    with open(DEBIAN, newline="") as fh:
        rows = list(csv.DictReader(fh))[:40]
    path = tmp_path_factory.mktemp("ray_in") / "texts.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["id", "text", "label"])
        w.writeheader()
        for r in rows:
            w.writerow({"id": r["id"], "text": r["text"][:200], "label": r["label"]})
    return path


def test_ray_matches_single_process_and_resumes(texts_csv, tmp_path, monkeypatch):
    import ray

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from embedview.core.loaders import load_paths
    from embedview.encoders.pipeline import embed
    from embedview.encoders.ray_engine import encode_on_ray, shard_name
    from embedview.encoders.registry import default_encoder_for

    ds = load_paths([texts_csv])
    assert len(ds) == 40 and ds.modality == "text"
    model = default_encoder_for("text")
    ref = embed(ds, model, cache=False)

    out = tmp_path / "out"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        first = encode_on_ray(ds, model, out, shard_size=15, progress=lambda m: None)
        assert first["redone"] == [0, 1, 2] and first["skipped"] == []
        got = load_paths([out])
        assert len(got) == 40
        order = np.argsort(np.asarray(got.ids, dtype=object).astype(str))
        ref_order = np.argsort(np.asarray(ref.dataset.ids, dtype=object).astype(str))
        vecs = np.asarray(got.embeddings)[order]
        np.testing.assert_allclose(vecs, ref.vectors[ref_order], atol=1e-5)
        assert [str(i) for i in np.asarray(got.ids, dtype=object)] == [str(i) for i in ds.ids]

        mtime0 = (out / shard_name(0)).stat().st_mtime_ns
        (out / shard_name(1)).unlink()
        second = encode_on_ray(ds, model, out, shard_size=15, progress=lambda m: None)
        assert second["redone"] == [1] and second["skipped"] == [0, 2]
        assert (out / shard_name(0)).stat().st_mtime_ns == mtime0
        again = load_paths([out])
        np.testing.assert_allclose(np.asarray(again.embeddings)[order], ref.vectors[ref_order], atol=1e-5)
    finally:
        ray.shutdown()
