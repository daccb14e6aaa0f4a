"""MM-GRAPH readers on tiny files written in exactly the published formats."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmgc.datasets import load_dataset
from mmgc.errors import InputError

N, D = 60, 16


def _features(seed=0, n=N, d=D):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g)


def write_nc(folder, n=N, d=D, encoder="clip", labels=None, split=None, edges=None):
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(1)
    if edges is None:
        edges = torch.randint(0, n, (3 * n, 2), generator=g)
    torch.save(edges, folder / "nc_edges-nodeid.pt")
    torch.save(_features(n=n, d=d), folder / f"{encoder}_feat.pt")
    if labels is None:
        labels = torch.arange(n) % 4
        labels[-5:] = -1
    torch.save(labels, folder / "labels-w-missing.pt")
    if split is None:
        perm = torch.randperm(n - 5, generator=g)
        split = {"train_idx": perm[:30], "val_idx": perm[30:40], "test_idx": perm[40:]}
    torch.save(split, folder / "split.pt")
    return folder


def write_lp(folder, n=N, d=D, encoder="imagebind", name="lp-edge-split.pt"):
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(_features(n=n, d=d), folder / f"{encoder}_feat.pt")
    g = torch.Generator().manual_seed(2)
    split = {}
    for part, m in (("train", 100), ("valid", 20), ("test", 20)):
        split[part] = {"source_node": torch.randint(0, n, (m,), generator=g),
                       "target_node": torch.randint(0, n, (m,), generator=g)}
    split["test"]["target_node_neg"] = torch.randint(0, n, (20, 5), generator=g)  # extra keys are ignored
    torch.save(split, folder / name)
    return folder


def test_ele_fashion_reads_published_format(tmp_path):
    write_nc(tmp_path / "ele-fashion")
    g = load_dataset("ele-fashion", root=str(tmp_path))
    assert g.num_nodes == N and g.modalities == {"text": (0, 8), "image": (8, 16)}
    assert (int(g.train_mask.sum()), int(g.val_mask.sum()), int(g.test_mask.sum())) == (30, 10, 15)
    assert g.setting == "inductive" and g.metric == "accuracy" and g.num_classes == 4
    assert g.info["encoder"] == "clip" and g.info["alignment"] == "aligned" and g.info["provenance"] == "real"
    assert torch.equal(g.x, _features())
    # root may also be the dataset folder itself
    g2 = load_dataset("ele-fashion", root=str(tmp_path / "ele-fashion"))
    assert torch.equal(g2.edge_index, g.edge_index)


def test_books_nc_encoder_option_and_env_root(tmp_path, monkeypatch):
    write_nc(tmp_path / "books-nc", encoder="t5vit")
    monkeypatch.setenv("MMGC_MMGRAPH_ROOT", str(tmp_path))
    g = load_dataset("books-nc", encoder="t5vit")
    assert g.info["alignment"] == "unaligned" and g.info["variant"] == "encoder=t5vit"
    monkeypatch.delenv("MMGC_MMGRAPH_ROOT")
    monkeypatch.setenv("MMGC_DATA", str(tmp_path.parent))
    (tmp_path.parent / "mmgraph").mkdir(exist_ok=True)
    write_nc(tmp_path.parent / "mmgraph" / "books-nc", encoder="t5vit")
    assert load_dataset("books-nc", encoder="t5vit").num_nodes == N


def test_numpy_and_list_payloads_are_accepted(tmp_path):
    folder = write_nc(tmp_path / "ele-fashion")
    edges = torch.load(folder / "nc_edges-nodeid.pt")
    torch.save(edges.numpy(), folder / "nc_edges-nodeid.pt")
    torch.save((torch.arange(N) % 4).tolist(), folder / "labels-w-missing.pt")
    g = load_dataset("ele-fashion", root=str(tmp_path))
    assert g.num_nodes == N


def test_text_dim_option_and_odd_width(tmp_path):
    write_nc(tmp_path / "ele-fashion", d=15)
    with pytest.raises(InputError, match="clip_feat.pt: feature width 15 does not match the modality layout"):
        load_dataset("ele-fashion", root=str(tmp_path))
    g = load_dataset("ele-fashion", root=str(tmp_path), text_dim=7)
    assert g.modalities == {"text": (0, 7), "image": (7, 15)}
    with pytest.raises(InputError, match="does not match the modality layout; expected 0 < text_dim < 15"):
        load_dataset("ele-fashion", root=str(tmp_path), text_dim=15)


def test_amazon_needs_label_file_and_splits_labelled_nodes(tmp_path):
    write_lp(tmp_path / "sports-copurchase")
    with pytest.raises(InputError, match="amazon-sports: node labels are not published by MM-GRAPH"):
        load_dataset("amazon-sports", root=str(tmp_path))
    labels = torch.full((N,), -1)
    labels[:40] = torch.arange(40) % 2
    torch.save(labels, tmp_path / "sports-labels.pt")
    g = load_dataset("amazon-sports", root=str(tmp_path), labels=str(tmp_path / "sports-labels.pt"))
    assert (g.setting, g.metric, g.num_classes) == ("transductive", "roc_auc", 2)
    assert (int(g.train_mask.sum()), int(g.val_mask.sum()), int(g.test_mask.sum())) == (28, 6, 6)
    assert not bool((g.train_mask | g.val_mask | g.test_mask)[40:].any())
    assert "not published" in g.info["note"] and g.info["variant"] == ""
    g2 = load_dataset("amazon-sports", root=str(tmp_path), labels=str(tmp_path / "sports-labels.pt"), split_seed=1)
    assert not torch.equal(g.train_mask, g2.train_mask)
    # .npy label files work as well, and the seeded split is reproducible
    np.save(tmp_path / "sports-labels.npy", labels.numpy())
    g3 = load_dataset("amazon-sports", root=str(tmp_path), labels=str(tmp_path / "sports-labels.npy"))
    assert torch.equal(g.train_mask, g3.train_mask)


def test_amazon_cloth_hard_split_file_name(tmp_path):
    write_lp(tmp_path / "cloth-copurchase", name="lp-edge-split-hard.pt")
    labels = torch.arange(N) % 2
    torch.save(labels, tmp_path / "cloth-copurchase" / "labels.pt")
    g = load_dataset("amazon-cloth", root=str(tmp_path), labels="labels.pt")  # relative to the dataset folder
    assert g.num_nodes == N and g.info["encoder"] == "imagebind"


# ----------------------------------------------------------------------------------------- bad input
def test_missing_directory_and_missing_files(tmp_path, monkeypatch):
    monkeypatch.delenv("MMGC_MMGRAPH_ROOT", raising=False)
    monkeypatch.delenv("MMGC_DATA", raising=False)
    with pytest.raises(InputError, match="mmgraph: no data directory given; expected --root DIR or \\$MMGC_MMGRAPH_ROOT"):
        load_dataset("ele-fashion")
    with pytest.raises(InputError, match="ele-fashion/nc_edges-nodeid.pt not found under"):
        load_dataset("ele-fashion", root=str(tmp_path))
    folder = write_nc(tmp_path / "ele-fashion")
    (folder / "split.pt").unlink()
    with pytest.raises(InputError, match="split.pt: file not found"):
        load_dataset("ele-fashion", root=str(tmp_path))
    write_nc(tmp_path / "ele-fashion")
    with pytest.raises(InputError, match="imagebind_feat.pt: file not found"):
        load_dataset("ele-fashion", root=str(tmp_path), encoder="imagebind")


@pytest.mark.parametrize("mutate,match", [
    (lambda f: torch.save(torch.randint(0, 3, (N, D)), f / "clip_feat.pt"), "expected floating-point features, found dtype torch.int64"),
    (lambda f: torch.save(torch.randn(N, 2, D), f / "clip_feat.pt"), r"expected a float feature matrix \[N, d\], found shape"),
    (lambda f: torch.save(torch.randn(N, D).index_put_((torch.tensor([3]), torch.tensor([1])), torch.tensor(float("nan"))),
                          f / "clip_feat.pt"), "expected finite features, found NaN/Inf in 1 rows .first row 3."),
    (lambda f: torch.save(torch.randn(N, D).index_put_((torch.tensor([5]),), torch.tensor(float("inf"))),
                          f / "clip_feat.pt"), "found NaN/Inf"),
    (lambda f: torch.save(torch.randint(0, N + 7, (40, 2)).index_put_((torch.tensor([0]),), torch.tensor(N + 3)),
                          f / "nc_edges-nodeid.pt"), r"edge node ids must lie in \[0, 60\)"),
    (lambda f: torch.save(torch.randint(0, N, (40, 3)), f / "nc_edges-nodeid.pt"), r"expected an edge list of shape \[E, 2\]"),
    (lambda f: torch.save(torch.rand(40, 2) * N, f / "nc_edges-nodeid.pt"), "expected integer node ids"),
    (lambda f: torch.save(torch.arange(N).float() % 4, f / "labels-w-missing.pt"), "expected integer labels"),
    (lambda f: torch.save(torch.arange(N - 1) % 4, f / "labels-w-missing.pt"), r"expected one label per node \(shape \[60\]\)"),
    (lambda f: torch.save(torch.full((N,), -3), f / "labels-w-missing.pt"), "expected labels >= -1"),
    (lambda f: torch.save({"train_idx": torch.arange(10), "val_idx": torch.arange(10, 20),
                           "test_idx": torch.tensor([], dtype=torch.long)}, f / "split.pt"), "test_idx is empty"),
    (lambda f: torch.save({"train_idx": torch.arange(10), "val_idx": torch.arange(10, 20)}, f / "split.pt"),
     "expected key 'test_idx'"),
    (lambda f: torch.save({"train_idx": torch.arange(10), "val_idx": torch.tensor([10, 99]),
                           "test_idx": torch.arange(20, 30)}, f / "split.pt"), r"val_idx must lie in \[0, 60\)"),
    (lambda f: (f / "split.pt").write_bytes(b"not a torch file"), "split.pt: not a readable torch file"),
])
def test_bad_nc_files(tmp_path, mutate, match):
    folder = write_nc(tmp_path / "ele-fashion")
    mutate(folder)
    with pytest.raises(InputError, match=match):
        load_dataset("ele-fashion", root=str(tmp_path))


def test_bad_amazon_inputs(tmp_path):
    folder = write_lp(tmp_path / "sports-copurchase")
    torch.save(torch.arange(N) % 3, tmp_path / "three.pt")
    with pytest.raises(InputError, match="three.pt: expected binary labels 0/1"):
        load_dataset("amazon-sports", root=str(tmp_path), labels=str(tmp_path / "three.pt"))
    with pytest.raises(InputError, match="missing.pt: file not found"):
        load_dataset("amazon-sports", root=str(tmp_path), labels=str(tmp_path / "missing.pt"))
    torch.save(torch.full((N,), -1), tmp_path / "none.pt")
    with pytest.raises(InputError, match="none.pt: expected labelled nodes"):
        load_dataset("amazon-sports", root=str(tmp_path), labels=str(tmp_path / "none.pt"))
    torch.save(torch.arange(N) % 2, tmp_path / "ok.pt")
    with pytest.raises(InputError, match="the val split is empty"):
        load_dataset("amazon-sports", root=str(tmp_path), labels=str(tmp_path / "ok.pt"), split="0.99,0.001,0.009")
    split = torch.load(folder / "lp-edge-split.pt")
    split["valid"]["target_node"] = split["valid"]["target_node"][:-1]
    torch.save(split, folder / "lp-edge-split.pt")
    with pytest.raises(InputError, match="valid.source_node and target_node differ in length"):
        load_dataset("amazon-sports", root=str(tmp_path), labels=str(tmp_path / "ok.pt"))
    split["valid"]["target_node"] = torch.cat([split["valid"]["target_node"], torch.tensor([N])])
    torch.save(split, folder / "lp-edge-split.pt")
    with pytest.raises(InputError, match=r"valid.target_node must lie in \[0, 60\)"):
        load_dataset("amazon-sports", root=str(tmp_path), labels=str(tmp_path / "ok.pt"))


def test_unknown_option_and_bad_encoder(tmp_path):
    write_nc(tmp_path / "ele-fashion")
    with pytest.raises(InputError, match="dataset ele-fashion option: unknown key 'encodr'"):
        load_dataset("ele-fashion", root=str(tmp_path), encodr="clip")
    with pytest.raises(InputError, match=r"encoder: expected one of \['clip', 'imagebind', 't5vit', 't5dino'\]"):
        load_dataset("ele-fashion", root=str(tmp_path), encoder="bert")
