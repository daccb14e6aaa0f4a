"""Planetoid (Cora, Citeseer) from the shared original split files."""

from __future__ import annotations

import shutil

import pytest
import torch

from mmgc.datasets import load_dataset
from mmgc.errors import InputError


@pytest.mark.parametrize("name,nodes,edges,classes,width,train", [
    ("cora", 2708, 5278, 7, 1433, 140),
    ("citeseer", 3327, 4552, 6, 3703, 120),
])
def test_planetoid_counts_and_standard_split(shared_data, name, nodes, edges, classes, width, train):
    g = load_dataset(name, root=str(shared_data / "planetoid"))
    assert (g.num_nodes, g.num_edges, g.num_classes, g.feature_dim) == (nodes, edges, classes, width)
    assert g.modalities == {"features": (0, width)}
    assert (int(g.train_mask.sum()), int(g.val_mask.sum()), int(g.test_mask.sum())) == (train, 500, 1000)
    assert g.setting == "transductive" and g.metric == "accuracy"
    assert g.info["provenance"] == "real"
    # train = first len(y) nodes, val = the next 500 (the GCN split)
    assert bool(g.train_mask[:train].all()) and bool(g.val_mask[train:train + 500].all())
    # row-normalised by default
    sums = g.x.sum(1)
    nonzero = sums > 0
    assert torch.allclose(sums[nonzero], torch.ones(int(nonzero.sum())), atol=1e-5)


def test_citeseer_isolated_test_nodes_are_padded_and_unlabelled(shared_data):
    g = load_dataset("citeseer", root=str(shared_data / "planetoid"))
    zero_rows = (g.x.abs().sum(1) == 0)
    unlabelled = g.y < 0
    assert int(unlabelled.sum()) == 15
    assert bool(zero_rows[unlabelled].all())
    assert not bool((g.train_mask | g.val_mask | g.test_mask)[unlabelled].any())


def test_planetoid_default_root_and_unnormalised(shared_data):
    g = load_dataset("cora", normalize="false")
    assert float(g.x.max()) == 1.0 and g.info["variant"] == "normalize=False"


def test_planetoid_missing_file(shared_data, tmp_path):
    for f in (shared_data / "planetoid").glob("ind.cora.*"):
        if not f.name.endswith(".tx"):
            shutil.copy(f, tmp_path / f.name)
    with pytest.raises(InputError, match=r"ind\.cora\.tx: file not found"):
        load_dataset("cora", root=str(tmp_path))


def test_planetoid_rejects_foreign_pickles(shared_data, tmp_path):
    import pickle

    for f in (shared_data / "planetoid").glob("ind.cora.*"):
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "ind.cora.graph").write_bytes(pickle.dumps(shutil.copy))  # not numpy/scipy/collections
    with pytest.raises(InputError, match=r"ind\.cora\.graph: not a readable Planetoid pickle"):
        load_dataset("cora", root=str(tmp_path))


def test_planetoid_missing_root(tmp_path):
    with pytest.raises(InputError, match="not found under"):
        load_dataset("cora", root=str(tmp_path))


@pytest.mark.parametrize("name, fingerprint", [("cora", "f5ac53d648f70c32"), ("citeseer", "1a27abab64b83cee")])
def test_the_published_files_read_as_before_through_the_restricted_reader(shared_data, name, fingerprint):
    """The reader admits only what the files hold (arrays, a CSR matrix's state, the adjacency dict):
    features, edges and labels are bit for bit those of the unrestricted reader (fingerprints taken
    with scipy's own CSR matrices)."""
    import hashlib

    g = load_dataset(name, root=str(shared_data / "planetoid"))
    digest = hashlib.sha256()
    for tensor in (g.x, g.edge_index, g.y):
        digest.update(tensor.contiguous().numpy().tobytes())
    assert digest.hexdigest()[:16] == fingerprint


def test_a_csr_matrix_with_indices_out_of_range_is_refused(shared_data, tmp_path):
    """A CSR matrix's index arrays are checked before they are used: a column index past the last
    column is an error naming the file, never a write outside the matrix."""
    import pickle

    import numpy as np
    import scipy.sparse as sp

    for f in (shared_data / "planetoid").glob("ind.cora.*"):
        shutil.copy(f, tmp_path / f.name)
    indptr = np.concatenate([[0], np.ones(140, dtype=np.int32)])
    hostile = sp.csr_matrix((np.ones(1, dtype=np.float32), np.array([10**6], dtype=np.int32), indptr),
                            shape=(140, 1433))
    (tmp_path / "ind.cora.x").write_bytes(pickle.dumps(hostile, protocol=2))
    with pytest.raises(InputError, match=r"ind\.cora\.x: inconsistent CSR matrix of shape \(140, 1433\)"):
        load_dataset("cora", root=str(tmp_path))
