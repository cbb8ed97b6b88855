"""The item table's cluster and item-score columns: they appear when computed, read the model's
analyses and sort like every other column."""

import numpy as np
import pytest
from PySide6.QtCore import Qt
from viewkit import ViewEnv, digits_set, pca_2d

from embedview.core.clusters import Clusters
from embedview.gui.views.table import TableView
from embedview.model import AnalysisKind


@pytest.fixture
def env(qtbot):
    e = ViewEnv(qtbot, 900, 400)
    view = e.add(TableView)
    e.show()
    yield e, view
    e.close()


def _column(view, key):
    m = view.table_model
    c = m.column_of(key)
    return [m.data(m.index(r, c)) for r in range(m.rowCount())]


def test_cluster_and_score_columns_appear_and_sort(env, qtbot):
    e, view = env
    emb = digits_set(600)
    xy = pca_2d(emb)
    e.load(emb, xy)
    m = view.table_model
    assert m.column_of("cluster") < 0
    clusters = Clusters().fit(xy, labels=emb.dataset.labels, source="PCA")
    e.model.set_analysis(AnalysisKind.CLUSTERS, clusters)
    assert m.column_of("cluster") >= 0
    names = _column(view, "cluster")
    assert names == clusters.name_per_item("fine").tolist()
    assert "HDBSCAN" in m.headerData(m.column_of("cluster"), Qt.Horizontal, Qt.ToolTipRole)

    uniq = np.random.default_rng(0).random(len(emb))
    e.model.set_analysis(AnalysisKind.ITEM_SCORES, {"uniqueness": uniq, "representativeness": 1 - uniq})
    assert m.column_of("cluster") >= 0 and m.column_of("score:uniqueness") >= 0
    view.table.sortByColumn(m.column_of("score:uniqueness"), Qt.DescendingOrder)
    assert e.model.views.table.sort == "score:uniqueness"
    top = m.item_at(0)
    assert top == int(np.argmax(uniq))
    assert _column(view, "score:uniqueness")[0] == f"{uniq.max():.3f}"

    view.table.sortByColumn(m.column_of("cluster"), Qt.AscendingOrder)
    shown = _column(view, "cluster")
    assert shown == sorted(shown, key=str.lower)  # members of a cluster together

    # a new clustering replaces the column's values; the sort follows
    again = Clusters(fine_size=0.05).fit(xy, labels=emb.dataset.labels)
    e.model.set_analysis(AnalysisKind.CLUSTERS, again)
    assert sorted(_column(view, "cluster")) == sorted(again.name_per_item("fine").tolist())
