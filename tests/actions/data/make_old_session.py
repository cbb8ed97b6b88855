"""How old_format.embedview.json was made: the session code before issue 9 (views keyed by class name).

Kept for the record; it needs that old code (gui.main_window + gui.session of commit 0c8148d) to run.
import os, sys, json
os.environ["QT_QPA_PLATFORM"] = "offscreen"
import tempfile
tmp = tempfile.mkdtemp()
os.environ["EMBEDVIEW_CACHE_DIR"] = tmp + "/cache"
import numpy as np
from PySide6.QtCore import QSettings
QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, tmp + "/settings")
from PySide6.QtWidgets import QApplication
app = QApplication([])
sys.path.insert(0, "tests/gui")
from viewkit import digits_set, pca_2d
from embedview.gui.main_window import MainWindow

out = "tests/actions/data"
emb = digits_set(60)
rng = np.random.default_rng(0)
src = [2, 7, 11]
X = np.vstack([emb.vectors, emb.vectors[src] + rng.normal(scale=0.05, size=(3, 64))]).astype(np.float32)
labels = np.array([f"label-{v}" for v in list(emb.dataset.labels) + [emb.dataset.labels[i] for i in src]])
ids = np.array([f"d{i:04d}" for i in range(len(X))])
data = os.path.abspath(f"{out}/old_digits.npz")
np.savez_compressed(data, embeddings=X, label=labels, id=ids)

w = MainWindow(); w.show(); w.build_docks()
def filed(name):
    e = w.state.sets[name]
    w.state.set_projection("umap", pca_2d(e)[:, ::-1].copy(), None, name=name)
w.state.embeddings_changed.connect(filed)
w.open_paths([data])
import time
def wait(cond, t=120):
    end = time.time() + t
    while not cond():
        app.processEvents(); time.sleep(0.01)
        if time.time() > end: raise SystemExit("timeout")
wait(lambda: w.state.emb is not None and w.state.projection("pca") is not None and w.state.get_analysis("duplicates") is not None)
w.selection.set_selection([3, 5, 8, 61], "test"); w.selection.set_current(5, "test")
finder = w.state.get_analysis("duplicates")
print("suggested", finder.suggested_threshold_, "floor", finder.floor_, "groups", finder.groups_)
t = 0.97
dup = w.views["DuplicatesView"]; dup.set_threshold(t)
wait(lambda: abs(w.state.get_analysis("duplicates").threshold_ - t) < 1e-9)
groups = w.state.get_analysis("duplicates").groups_
print("groups at t", groups)
a, b = (int(i) for i in groups[0][:2])
dup.set_decisions({a: "drop", b: "keep"})
w.views["MapView"].choose_color(("duplicates", ""))
w.views["CollapseView"].set_mitigation(whitened=True)
from embedview.gui.session import save_session
p = save_session(w, f"{out}/old_format.embedview.json")
w.shutdown(30)
doc = json.load(open(p))
print(json.dumps(doc["views"]), doc["duplicates"], doc["selection"], doc["data"])
