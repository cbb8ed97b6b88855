"""embedview from Python: check vectors, gate a new checkpoint on a baseline, log a training run,
and open the window on in-memory data.  Run it as a script or paste it cell by cell into Jupyter::

    python examples/notebook_api.py              # everything, the window too
    python examples/notebook_api.py --no-window  # without the window (CI, a headless machine)
"""

import sys
import tempfile

import numpy as np
from sklearn.datasets import load_digits

import embedview

digits = load_digits()
vectors = digits.data[:500].astype(np.float32)  # stand-ins for your model's embeddings
labels = [str(t) for t in digits.target[:500]]

# 1. The checks `embedview check` runs: a plain dict, and a table (a pandas DataFrame)
result = embedview.check(vectors, labels=labels, include=["knn", "linear_probe"])
print("verdict:", result["verdict"], "| kNN accuracy:", round(result["knn"]["accuracy"], 3))
print(result.table()[["check", "metric", "value"]].to_string(index=False))

# 2. A CI gate: a worse checkpoint (here: the vectors squeezed onto 3 directions) against the baseline
mean = vectors.mean(axis=0)
_, _, vt = np.linalg.svd(vectors - mean, full_matrices=False)
worse = (vectors - mean) @ vt[:3].T @ vt[:3] + mean
gate = embedview.compare(embedview.check(worse, labels=labels, include=["knn", "linear_probe"]), result,
                         tolerance=0.02, tolerances={"knn_accuracy": 0.01})
print("gate passed:", gate.passed_, "| failed:", gate.failed_)
print(gate.table()[["metric", "baseline", "new", "change", "allowed", "status"]].to_string(index=False))

# 3. A training run: one call per checkpoint; then `embedview check RUN_DIR -o timeline.json` or `embedview RUN_DIR`
run_dir = tempfile.mkdtemp(prefix="embedview-run-")
for step, v in enumerate([worse, vectors]):
    embedview.log(run_dir, step * 100, v, ids=[f"digit-{i}" for i in range(len(v))], labels=labels)
print("logged a run in", run_dir)

# 4. The window on these vectors, without blocking: select a cluster on the map, then read it back
if "--no-window" not in sys.argv:
    window = embedview.show(vectors, labels=labels, metadata={"ink": vectors.sum(axis=1)})
    input("Select some points on the map (drag a box), then press Enter here... ")
    picked = window.selection()
    print(f"{len(picked)} selected, e.g. {picked[:5]}")
    window.push(vectors[:200], labels=labels[:200])  # replace what the window shows
    window.close()
