"""The `embedview` command line, run in-process through main([...]) on small real data."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from skimage import data as skdata
from sklearn.datasets import load_digits

from embedview import __version__
from embedview.cli import EXIT_UNHEALTHY, EXIT_USAGE, ProgressBar, _with_default_command, main
from embedview.core.loaders import load_paths

TEXTS = [
    ("Simmer the tomato sauce with garlic and basil.", "cooking"),
    ("Knead the dough for ten minutes until it is smooth.", "cooking"),
    ("Roast the vegetables at two hundred degrees.", "cooking"),
    ("Whisk the eggs with a pinch of salt before frying.", "cooking"),
    ("Season the soup with pepper and fresh thyme.", "cooking"),
    ("Bake the bread until the crust sounds hollow.", "cooking"),
    ("The striker scored twice in the second half.", "sports"),
    ("The marathon runners set off at dawn.", "sports"),
    ("Our goalkeeper saved a penalty in extra time.", "sports"),
    ("The tennis final went to a fifth set.", "sports"),
    ("The cyclists climbed the mountain pass in the rain.", "sports"),
    ("The swimmer broke the national record in the relay.", "sports"),
]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _cache_env(monkeypatch, cache_dir):
    monkeypatch.setenv("EMBEDVIEW_CACHE_DIR", str(cache_dir))


@pytest.fixture(scope="module")
def texts_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("texts") / "texts.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["sentence", "topic"])
        w.writerows(TEXTS)
    return path


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos") / "photos"
    groups = {"animals": {"cat": skdata.chelsea(), "astronaut": skdata.astronaut()},
              "things": {"coffee": skdata.coffee(), "rocket": skdata.rocket()}}
    for label, images in groups.items():
        (root / label).mkdir(parents=True)
        for name, arr in images.items():
            Image.fromarray(arr).resize((96, 72)).save(root / label / f"{name}.png")
    (root / "things" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    return root


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory):
    """Digits features with three planted near copies (rows 100-102 copy rows 0-2)."""
    d = load_digits()
    X = d.data[:100].astype(np.float32)
    rng = np.random.default_rng(0)
    X = np.vstack([X, X[:3] + rng.normal(scale=0.01, size=(3, 64)).astype(np.float32)])
    ids = np.array([f"d{i:03d}" for i in range(len(X))])
    labels = np.array([str(t) for t in d.target[:100]] + [str(t) for t in d.target[:3]])
    path = tmp_path_factory.mktemp("digits") / "digits.npz"
    np.savez(path, embeddings=X, ids=ids, labels=labels)
    return path, X, ids


def _reference(paths, model, **columns):
    from embedview.encoders.pipeline import embed

    return embed(load_paths(paths, **columns), model, cache=False)


# -- argument handling ----------------------------------------------------------------------------
def test_default_command_is_gui():
    assert _with_default_command([]) == ["gui"]
    assert _with_default_command(["a.png", "b/"]) == ["gui", "a.png", "b/"]
    assert _with_default_command(["-v", "x.npy"]) == ["-v", "gui", "x.npy"]
    assert _with_default_command(["check", "x.npy"]) == ["check", "x.npy"]
    assert _with_default_command(["--version"]) == ["--version"]


def test_version_and_usage_errors(capsys):
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out
    assert main(["check"]) == EXIT_USAGE  # PATH missing: argparse's message, exit 2
    assert "required" in capsys.readouterr().err


def test_progress_bar_without_terminal():
    stream, now = io.StringIO(), [0.0]
    bar = ProgressBar("encoding", total=200, stream=stream, clock=lambda: now[0])
    for done in range(0, 201, 10):  # 21 updates over 10 seconds
        bar(done / 200, "working")
        now[0] += 0.5
    lines = stream.getvalue().splitlines()
    assert 5 <= len(lines) <= 12  # occasional lines, not one per update
    assert "200/200 items" in lines[-1] and "100%" in lines[-1] and "in 10s" in lines[-1]
    assert "ETA" in lines[0] and "items/s" in lines[0]

    quick = io.StringIO()
    bar = ProgressBar("loading", stream=quick)
    for fraction in (0.0, 0.5, 1.0):
        bar(fraction)
    assert len(quick.getvalue().splitlines()) == 1  # a job done within a second: one line


def test_progress_bar_on_a_terminal_redraws_one_line():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream, now = Terminal(), [0.0]
    bar = ProgressBar("encoding", total=10, stream=stream, clock=lambda: now[0])
    for done in range(11):
        bar(done / 10)
        now[0] += 0.2
    text = stream.getvalue()
    assert text.count("\r") == 11 and text.count("\n") == 1 and text.endswith("\n")


# -- encode ---------------------------------------------------------------------------------------
def test_encode_texts_to_npz_and_parquet(tmp_path, texts_csv, capsys):
    columns = dict(text_column="sentence", label_column="topic")
    args = [str(texts_csv), "--model", "default-text", "--text-column", "sentence", "--label-column", "topic"]
    npz, parquet = tmp_path / "t.npz", tmp_path / "t.parquet"
    assert main(["encode", *args, "-o", str(npz)]) == 0
    assert main(["encode", *args, "-o", str(parquet)]) == 0
    assert "wrote 12 vectors" in capsys.readouterr().err
    ref = _reference([texts_csv], "default-text", **columns)

    z = np.load(npz)  # plain arrays: no allow_pickle needed
    np.testing.assert_allclose(z["embeddings"], ref.vectors, rtol=0, atol=1e-5)
    assert list(z["ids"]) == ref.dataset.ids and list(z["labels"]) == list(ref.dataset.labels)
    assert list(z["text"]) == [t for t, _ in TEXTS]

    table = pq.read_table(parquet)
    vector_type = table.schema.field("embedding").type
    assert pa.types.is_fixed_size_list(vector_type) and vector_type.list_size == 384
    assert vector_type.value_type == pa.float32()
    np.testing.assert_allclose(np.array(table.column("embedding").to_pylist()), ref.vectors, atol=1e-5)
    assert table.column("label").to_pylist() == list(ref.dataset.labels)
    assert table.schema.metadata[b"embedview.encoder"] == b"default-text"

    for path in (npz, parquet):  # both read back as precomputed embeddings
        back = load_paths([path])
        np.testing.assert_allclose(back.embeddings, ref.vectors, atol=1e-5)
        assert list(back.labels) == list(ref.dataset.labels) and back.ids == ref.dataset.ids


def test_encode_image_folder_skips_the_broken_file(tmp_path, photo_folder, capsys):
    out = tmp_path / "photos.npz"
    assert main(["encode", str(photo_folder), "--model", "default-image", "--batch-size", "2", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "broken.png" in err and "1 file(s) or row(s) skipped (not loaded), 0 warning(s)" in err
    ref = _reference([photo_folder], "default-image")
    z = np.load(out)
    assert z["embeddings"].shape == (4, 1280)
    np.testing.assert_allclose(z["embeddings"], ref.vectors, rtol=0, atol=1e-4)
    assert sorted(z["labels"]) == ["animals", "animals", "things", "things"]
    assert all(str(photo_folder) in s for s in z["sources"])


def test_encode_refuses_to_write_into_the_input(photo_folder, capsys):
    out = photo_folder / "vectors.npz"
    assert main(["encode", str(photo_folder), "--model", "default-image", "-o", str(out)]) == EXIT_USAGE
    assert "refusing to write inside the input" in capsys.readouterr().err
    assert not out.exists()


def test_unknown_model_and_missing_file_are_clear_errors(texts_csv, tmp_path, capsys):
    assert main(["encode", str(texts_csv), "--model", "nope", "-o", str(tmp_path / "x.npz")]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "unknown encoder 'nope'" in err and "Traceback" not in err
    assert main(["check", str(tmp_path / "missing.npy")]) == EXIT_USAGE
    assert "missing.npy: no such file" in capsys.readouterr().err


# -- check ----------------------------------------------------------------------------------------
def test_check_passes_on_real_embeddings(tmp_path, texts_csv, capsys):
    vectors = tmp_path / "texts.npz"
    assert main(["encode", str(texts_csv), "--model", "default-text", "--label-column", "topic",
                 "-o", str(vectors)]) == 0
    capsys.readouterr()
    assert main(["check", str(vectors), "--k", "3"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["verdict"] == "healthy"
    assert result["knn"]["k"] == 3 and result["knn"]["accuracy"] > 0.8  # two clear topics


def test_check_retrieval_with_a_relevance_file_needs_no_labels(tmp_path, texts_csv, capsys):
    vectors = tmp_path / "unlabelled.npz"
    assert main(["encode", str(texts_csv), "--model", "default-text", "--text-column", "sentence",
                 "-o", str(vectors)]) == 0
    ids = list(np.load(vectors)["ids"])
    capsys.readouterr()
    assert main(["check", str(vectors), "--k", "3"]) == 0  # no labels: retrieval is skipped
    assert "retrieval" not in json.loads(capsys.readouterr().out)

    pairs = tmp_path / "relevance.csv"
    rows = ["query,relevant"] + [f"{ids[0]},{ids[i]}" for i in range(1, 6)]  # cooking -> cooking
    rows += [f"{ids[6]},{ids[i]}" for i in range(7, 12)] + [f"{ids[6]},no-such-item"]  # sports -> sports
    pairs.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert main(["check", str(vectors), "--k", "3", "--relevance", str(pairs)]) == 0
    captured = capsys.readouterr()
    retrieval = json.loads(captured.out)["retrieval"]
    assert retrieval["n_queries"] == 2 and "relevance from a file" in retrieval["notes"]
    assert retrieval["precision_at"]["1"] == 1.0  # each topic's nearest sentence is of its topic
    assert f"relevance.csv:{len(rows)}: unknown id(s): relevant 'no-such-item'" in captured.err
    assert main(["check", str(vectors), "--relevance", str(tmp_path / "nope.csv")]) == EXIT_USAGE
    assert "nope.csv: cannot read relevance file" in capsys.readouterr().err


def test_check_ranks_separate_queries_against_the_documents_only(tmp_path, texts_csv, capsys):
    """`check DOCS --queries Q --relevance PAIRS -m MODEL`: the queries are encoded with the
    documents' model and ranked against the documents only, as a plain numpy computation does."""
    queries = tmp_path / "queries.csv"
    with open(queries, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "text"])
        w.writerows([("q-bread", "how long to bake bread"), ("q-goal", "who scored the goals"),
                     ("q-eggs", "beating eggs"), ("q-bread2", "baking a loaf")])
    docs = load_paths(texts_csv, text_column="sentence", label_column="topic")
    pairs = tmp_path / "pairs.csv"
    relevant = {"q-bread": [5, 1], "q-goal": [6, 8], "q-eggs": [3], "q-bread2": [5]}
    pairs.write_text("query,relevant\n" + "".join(f"{q},{docs.ids[i]}\n" for q, rel in relevant.items() for i in rel),
                     encoding="utf-8")
    metrics = tmp_path / "metrics.json"
    assert main(["check", str(texts_csv), "--text-column", "sentence", "--label-column", "topic",
                 "--queries", str(queries), "--relevance", str(pairs), "-m", "default-text", "--k", "3",
                 "-o", str(metrics)]) == 0
    r = json.loads(metrics.read_text())["retrieval"]
    assert r["separate_queries"] is True and r["n_queries"] == 4 and r["n_candidates"] == len(TEXTS)
    assert json.loads(metrics.read_text())["queries"]["n_items"] == 4

    # the same by hand: numpy over the same model's vectors, documents only
    D = _reference([texts_csv], "default-text", text_column="sentence").vectors
    Q = _reference([queries], "default-text").vectors
    D = D / np.linalg.norm(D, axis=1, keepdims=True)
    Q = Q / np.linalg.norm(Q, axis=1, keepdims=True)
    order = np.argsort(-(Q.astype(np.float64) @ D.T), axis=1, kind="stable")
    rel = list(relevant.values())
    for k in (1, 3):
        found = [len(set(order[i, :k]) & set(rel[i])) for i in range(4)]
        assert r["hit_rate_at"][str(k)] == pytest.approx(np.mean([f > 0 for f in found]), abs=1e-9)
        assert r["recall_at"][str(k)] == pytest.approx(np.mean([f / len(rel[i]) for i, f in enumerate(found)]),
                                                       abs=1e-9)
    assert r["hit_rate_at"]["3"] >= 0.75  # a real model finds bread for bread and goals for goals

    # labels on both sets stand in for the pairs; neither: a clear usage error
    labelled = tmp_path / "labelled_queries.csv"
    labelled.write_text("text,label\nkneading dough,cooking\na penalty shoot-out,sports\n", encoding="utf-8")
    assert main(["check", str(texts_csv), "--text-column", "sentence", "--label-column", "topic",
                 "--queries", str(labelled), "-m", "default-text", "--k", "3"]) == 0
    r = json.loads(capsys.readouterr().out)["retrieval"]
    assert r["separate_queries"] and r["n_queries"] == 2 and r["hit_rate_at"]["1"] == 1.0
    assert main(["check", str(texts_csv), "--text-column", "sentence", "--queries", str(queries),
                 "-m", "default-text"]) == EXIT_USAGE
    assert "--queries needs --relevance" in capsys.readouterr().err


def test_check_queries_as_precomputed_vectors(tmp_path, capsys):
    rng = np.random.default_rng(0)
    docs, queries = rng.normal(size=(50, 16)).astype(np.float32), rng.normal(size=(5, 16)).astype(np.float32)
    np.save(tmp_path / "docs.npy", docs)
    np.save(tmp_path / "queries.npy", queries)
    (tmp_path / "pairs.csv").write_text("query,relevant\n0,3\n1,7\n1,8\n4,49\n", encoding="utf-8")
    assert main(["check", str(tmp_path / "docs.npy"), "--queries", str(tmp_path / "queries.npy"),
                 "--relevance", str(tmp_path / "pairs.csv")]) == 0
    r = json.loads(capsys.readouterr().out)["retrieval"]
    S = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ (docs / np.linalg.norm(docs, axis=1,
                                                                                              keepdims=True)).T
    rank = {q: [int(np.sum(S[q] > S[q, d])) + 1 for d in ds] for q, ds in {0: [3], 1: [7, 8], 4: [49]}.items()}
    aps = [np.mean([(i + 1) / rk for i, rk in enumerate(sorted(v))]) for v in rank.values()]
    assert r["n_queries"] == 3 and r["n_candidates"] == 50 and r["map"] == pytest.approx(np.mean(aps), rel=1e-6)
    np.save(tmp_path / "short.npy", queries[:, :8])
    assert main(["check", str(tmp_path / "docs.npy"), "--queries", str(tmp_path / "short.npy"),
                 "--relevance", str(tmp_path / "pairs.csv")]) == EXIT_USAGE
    assert "8 dimensions" in capsys.readouterr().err


def test_check_runs_the_invariance_probe_with_the_encoder(tmp_path, texts_csv, capsys):
    assert main(["check", str(texts_csv), "--text-column", "sentence", "--label-column", "topic",
                 "-m", "default-text", "--invariance", "8"]) == 0
    probe = json.loads(capsys.readouterr().out)["invariance"]
    assert probe["modality"] == "text" and probe["n_items"] == 8
    assert set(probe["results"]) == {"casing", "typos", "word_dropout"}
    for r in probe["results"].values():
        assert 0.3 < r["mean_cosine"] <= 1.0 and r["mean_rank"] >= 1.0  # a real model: close, not identical
    vectors = tmp_path / "v.npy"
    np.save(vectors, np.random.default_rng(0).normal(size=(20, 8)).astype(np.float32))
    assert main(["check", str(vectors), "--invariance"]) == EXIT_USAGE
    assert "--invariance re-encodes augmented items" in capsys.readouterr().err


def test_check_fails_on_collapsed_embeddings(tmp_path, capsys):
    rng = np.random.default_rng(0)
    collapsed = np.outer(rng.normal(size=300), rng.normal(size=128)) + 1e-3 * rng.normal(size=(300, 128))
    path = tmp_path / "collapsed.npy"
    np.save(path, collapsed.astype(np.float32))
    metrics = tmp_path / "metrics.json"
    assert main(["check", str(path), "-o", str(metrics)]) == EXIT_UNHEALTHY
    result = json.loads(metrics.read_text())
    assert result["verdict"] == "complete collapse" and result["healthy"] is False
    assert {s["check"] for s in result["skipped"]} >= {"knn", "linear_probe"}  # no labels
    assert "complete collapse" in capsys.readouterr().err


def test_model_with_precomputed_vectors_is_a_usage_error(digits_npz, capsys):
    path, _, _ = digits_npz
    assert main(["check", str(path), "--model", "default-text"]) == EXIT_USAGE
    assert "precomputed" in capsys.readouterr().err


# -- duplicates and neighbours --------------------------------------------------------------------
def test_duplicates_csv_and_json_find_planted_copies(tmp_path, digits_npz, capsys):
    path, _, ids = digits_npz
    out_csv, out_json = tmp_path / "dups.csv", tmp_path / "dups.json"
    assert main(["duplicates", str(path), "-o", str(out_csv)]) == 0
    assert "suggested" in capsys.readouterr().err
    with open(out_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    group_of = {r["id"]: r["group"] for r in rows}
    for original, copy in (("d000", "d100"), ("d001", "d101"), ("d002", "d102")):
        assert original in group_of and group_of[original] == group_of.get(copy)
        pair = [r for r in rows if r["id"] in (original, copy)]
        assert sorted(r["keep"] for r in pair) == ["False", "True"]  # one of the two is kept
        assert all(float(r["similarity_to_kept"]) > 0.99 for r in pair)
    for group in {r["group"] for r in rows}:
        assert sum(r["keep"] == "True" for r in rows if r["group"] == group) == 1
    assert main(["duplicates", str(path)]) == 0  # no -o: the same rows as CSV on standard output
    captured = capsys.readouterr()
    assert list(csv.DictReader(io.StringIO(captured.out))) == rows
    assert f"{len({r['group'] for r in rows})} duplicate group(s) holding {len(rows)} items" in captured.err

    assert main(["duplicates", str(path), "--threshold", "0.999", "-o", str(out_json)]) == 0
    doc = json.loads(out_json.read_text())
    assert doc["threshold"] == 0.999
    assert {r["id"] for r in doc["rows"]} >= {"d000", "d100", "d001", "d101", "d002", "d102"}


def test_neighbors_csv(tmp_path, digits_npz):
    path, X, ids = digits_npz
    out = tmp_path / "nn.csv"
    assert main(["neighbors", str(path), "--k", "3", "-o", str(out)]) == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * len(X)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    S = U @ U.T
    np.fill_diagonal(S, -np.inf)
    best = S.argmax(axis=1)
    first = {r["query"]: r for r in rows if r["rank"] == "1"}
    for i in range(len(X)):
        assert first[ids[i]]["neighbor"] == ids[best[i]]
        assert float(first[ids[i]]["score"]) == pytest.approx(S[i, best[i]], abs=1e-4)
    assert first["d000"]["neighbor"] == "d100"  # the planted copy


# -- info -----------------------------------------------------------------------------------------
def test_info_lists_labels_and_the_broken_file(photo_folder, capsys):
    assert main(["info", str(photo_folder)]) == 0
    out = capsys.readouterr().out
    assert "image" in out and "animals" in out and "things" in out
    assert "broken.png" in out
    assert main(["info", str(photo_folder), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_items"] == 4 and info["labels"] == {"animals": 2, "things": 2}
    assert any("broken.png" in p for p in info["problems"])


# -- demo -----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_demo_headless_writes_a_report(tmp_path, cache_dir, capsys):
    report = tmp_path / "demo.html"
    assert main(["demo", "--headless", "--per-class", "3", "-o", str(report)]) == 0
    out = capsys.readouterr().out
    assert "images:" in out and "texts:" in out and "kNN accuracy" in out and "duplicates" in out
    page = report.read_text(encoding="utf-8")
    assert 'class="badge"' in page and page.count('class="map"') == 2
    assert (cache_dir / "demo" / "images").is_dir()  # built in the (test) user cache folder
