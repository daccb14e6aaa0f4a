"""MAGB: the DGL save_graphs reader on the real files, MAGB's split, published-feature and
synthetic-feature variants, and bad input."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from mmgc.datasets import load_dataset
from mmgc.datasets._dgl import load_graphs
from mmgc.errors import InputError

EXPECTED = {"Toys": (20695, 63443, 18), "Grocery": (17074, 85670, 20)}


@pytest.mark.parametrize("name", ["Toys", "Grocery"])
def test_dgl_reader_matches_published_counts(shared_data, name):
    graphs, labels = load_graphs(shared_data / "magb" / name / f"{name}Graph.pt")
    assert len(graphs) == 1 and labels == {}
    g = graphs[0]
    nodes, edges, classes = EXPECTED[name]
    assert g.num_nodes == [nodes]
    src, dst = g.edges[0]
    assert src.shape == dst.shape == (edges,) and src.dtype == np.int64
    assert 0 <= src.min() and max(src.max(), dst.max()) < nodes
    y = g.ndata[0]["label"]
    assert y.shape == (nodes,) and len(np.unique(y)) == classes and y.min() == 0
    assert g.ntypes == ["_N"] and g.etypes == ["_E"]


@pytest.mark.parametrize("key,folder", [("magb-toys", "Toys"), ("magb-grocery", "Grocery")])
def test_synthfeat_variant_names_and_provenance(shared_data, key, folder):
    nodes, directed, classes = EXPECTED[folder]
    for name, opts in ((key, {"features": "synthetic"}), (f"{key}+synthfeat", {})):
        g = load_dataset(name, root=str(shared_data / "magb"), **opts)
        assert g.name == f"{key}+synthfeat"
        assert g.info["provenance"] == "real-topology+synthetic-features"
        assert g.num_nodes == nodes and g.num_classes == classes
        assert g.info["directed_edges_in_file"] == directed
        assert g.setting == "transductive" and g.metric == "accuracy"
        assert g.info["variant"] == ""
        s = g.summary()
        assert s["name"] == f"{key}+synthfeat" and s["provenance"] == "real-topology+synthetic-features"


def test_magb_split_is_the_seed_42_shuffle(shared_data):
    g = load_dataset("magb-toys+synthfeat")
    n = g.num_nodes
    node_id = np.arange(n)
    np.random.seed(42)
    np.random.shuffle(node_id)
    train = np.sort(node_id[: int(n * 0.6)])
    val = np.sort(node_id[int(n * 0.6): int(n * 0.8)])
    assert torch.equal(g.train_mask.nonzero()[:, 0], torch.from_numpy(train))
    assert torch.equal(g.val_mask.nonzero()[:, 0], torch.from_numpy(val))
    assert int(g.train_mask.sum() + g.val_mask.sum() + g.test_mask.sum()) == n


def test_synthfeat_knobs_and_determinism(shared_data):
    a = load_dataset("magb-grocery+synthfeat", alignment="unaligned", dims="64,32", conflict=0.5)
    b = load_dataset("magb-grocery+synthfeat", alignment="unaligned", dims="64,32", conflict=0.5)
    assert torch.equal(a.x, b.x) and a.modalities == {"text": (0, 64), "image": (64, 96)}
    assert a.info["knobs"]["conflict_nodes"] == round(0.5 * a.num_nodes)
    assert a.info["variant"] == "dims=64,32;alignment=unaligned;conflict=0.5"
    c = load_dataset("magb-grocery+synthfeat", feature_seed=3)
    assert not torch.equal(c.x, load_dataset("magb-grocery+synthfeat").x)


def _copy_toys(shared_data, tmp_path):
    folder = tmp_path / "Toys"
    folder.mkdir()
    shutil.copy(shared_data / "magb" / "Toys" / "ToysGraph.pt", folder / "ToysGraph.pt")
    return folder


def test_published_feature_files(shared_data, tmp_path):
    folder = _copy_toys(shared_data, tmp_path)
    n = EXPECTED["Toys"][0]
    (folder / "TextFeature").mkdir()
    (folder / "ImageFeature").mkdir()
    rng = np.random.default_rng(0)
    text = rng.standard_normal((n, 12)).astype(np.float32)
    image = rng.standard_normal((n, 6)).astype(np.float16)
    np.save(folder / "TextFeature" / "Toys_roberta_base_512_mean.npy", text)
    np.save(folder / "ImageFeature" / "Toys_openai_clip-vit-large-patch14.npy", image)
    g = load_dataset("magb-toys", root=str(tmp_path))
    assert g.name == "magb-toys" and g.info["provenance"] == "real"
    assert g.modalities == {"text": (0, 12), "image": (12, 18)}
    assert torch.equal(g.x[:, :12], torch.from_numpy(text))
    assert "Toys_roberta_base_512_mean" in g.info["encoder"]
    # a second text file makes the choice explicit
    np.save(folder / "TextFeature" / "Toys_llama.npy", text[:, :4])
    with pytest.raises(InputError, match="several feature files .* choose one with option text_feature=NAME"):
        load_dataset("magb-toys", root=str(tmp_path))
    g = load_dataset("magb-toys", root=str(tmp_path), text_feature="Toys_llama.npy")
    assert g.modalities["text"] == (0, 4) and g.info["variant"] == "text_feature=Toys_llama.npy"


@pytest.mark.parametrize("array,match", [
    (np.zeros((10, 4), np.float32), "expected 20695 feature rows .one per node., found 10"),
    (np.full((20695, 4), np.nan, np.float32), "expected finite features, found NaN/Inf in 20695 rows"),
    (np.zeros((20695,), np.float32), r"expected a float feature matrix \[N, d\]"),
    (np.array(["a"] * 20695), "expected a numeric array"),
])
def test_bad_feature_files(shared_data, tmp_path, array, match):
    folder = _copy_toys(shared_data, tmp_path)
    (folder / "TextFeature").mkdir()
    (folder / "ImageFeature").mkdir()
    np.save(folder / "TextFeature" / "t.npy", array)
    np.save(folder / "ImageFeature" / "i.npy", np.zeros((20695, 3), np.float32))
    with pytest.raises(InputError, match=match):
        load_dataset("magb-toys", root=str(tmp_path))


def test_missing_feature_folder_and_graph_file(shared_data, tmp_path):
    _copy_toys(shared_data, tmp_path)
    with pytest.raises(InputError, match="TextFeature: no .npy feature file found"):
        load_dataset("magb-toys", root=str(tmp_path))
    with pytest.raises(InputError, match="Grocery/GroceryGraph.pt not found under"):
        load_dataset("magb-grocery", root=str(tmp_path))


def test_corrupt_dgl_files(shared_data, tmp_path):
    data = (shared_data / "magb" / "Toys" / "ToysGraph.pt").read_bytes()
    folder = tmp_path / "Toys"
    folder.mkdir()
    path = folder / "ToysGraph.pt"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="ToysGraph.pt: not a DGL save_graphs file we can read .truncated"):
        load_dataset("magb-toys+synthfeat", root=str(tmp_path))
    path.write_bytes(b"\0" * 8 + data[8:])
    with pytest.raises(InputError, match="not a DGL save_graphs file .magic 0x0"):
        load_dataset("magb-toys+synthfeat", root=str(tmp_path))
    path.write_bytes(b"PK\x03\x04 a torch zip, not DGL")
    with pytest.raises(InputError, match="not a DGL save_graphs file"):
        load_dataset("magb-toys+synthfeat", root=str(tmp_path))


def test_bad_magb_options(shared_data):
    with pytest.raises(InputError, match="magb option conflict: only applies with features=synthetic"):
        load_dataset("magb-toys", conflict=0.3)
    with pytest.raises(InputError, match="features is fixed to synthetic"):
        load_dataset("magb-toys+synthfeat", features="files")
    with pytest.raises(InputError, match="the val split is empty"):
        load_dataset("magb-toys+synthfeat", split="0.9,0.00001,0.09")
    with pytest.raises(InputError, match="alignment=aligned needs equal modality widths"):
        load_dataset("magb-toys+synthfeat", dims="8,4")
    with pytest.raises(InputError, match="unknown key 'colour'"):
        load_dataset("magb-toys", colour="red")


def test_synthfeat_conflict_map_moves_whole_classes(shared_data):
    """With ``conflict=1`` and a class map, exactly the nodes of the mapped classes conflict, and the
    map is recorded in the knobs."""
    g = load_dataset("magb-toys+synthfeat", dims="16,16", conflict=1.0, conflict_map="0-1,2-3")
    moved = int(torch.isin(g.y, torch.tensor([0, 1, 2, 3])).sum())
    assert g.info["knobs"]["conflict_nodes"] == moved
    assert g.info["knobs"]["conflict_map"][:4] == [1, 0, 3, 2]
    assert g.info["knobs"]["conflict_map"][4:] == list(range(4, 18))
    plain = load_dataset("magb-toys+synthfeat", dims="16,16", conflict=1.0)
    assert plain.info["knobs"]["conflict_map"] is None and plain.info["knobs"]["conflict_nodes"] == g.num_nodes
    with pytest.raises(InputError, match="only applies with features=synthetic"):
        load_dataset("magb-toys", conflict_map="0-1")
