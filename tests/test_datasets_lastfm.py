"""Last.fm-2K: counts pinned on the shared files, genre labels, leakage-free text, co-listening
edges, train-fitted scaling, and bad files."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from mmgc.datasets import load_dataset
from mmgc.datasets.lastfm import GENRES, co_listening_edges, genre_label, without_genre_tags
from mmgc.errors import InputError


@pytest.fixture(scope="module")
def lastfm():
    from tests.conftest import SHARED_DATA

    if not (SHARED_DATA / "lastfm-2k").is_dir():
        pytest.skip("shared Last.fm-2K files not found")
    return load_dataset("lastfm-2k")


def test_default_graph_counts_match_the_shared_files(lastfm):
    g = lastfm
    assert g.num_nodes == 1425 and g.num_classes == 12 and g.num_edges == 9982
    assert g.info["labelled"] == 1328 and int((g.y == -1).sum()) == 97
    sizes = g.info["class_sizes"]
    assert min(sizes.values()) == 17 and max(sizes.values()) == 241 and sum(sizes.values()) == 1328
    assert g.modalities == {"text": (0, 256), "audio": (256, 384)}
    assert (int(g.train_mask.sum()), int(g.val_mask.sum()), int(g.test_mask.sum())) == (796, 266, 266)
    assert g.setting == "transductive" and g.info["provenance"] == "real" and g.info["variant"] == ""
    assert "non-commercial" in g.info["license"]
    assert 0.39 < g.edge_homophily() < 0.41


def test_k_sets_the_neighbour_count(shared_data):
    g = load_dataset("lastfm-2k", k=5)
    assert g.num_edges == 5218 and g.info["variant"] == "k=5"


def test_genre_priority_takes_the_rarer_genre_first():
    names = [name for name, _ in GENRES]
    assert genre_label(["rock", "jazz", "seen live"]) == names.index("jazz")
    assert genre_label(["pop", "reggae"]) == names.index("reggae")
    assert genre_label(["indie"]) == names.index("rock")
    assert genre_label(["indie rock", "seen live"]) == -1  # whole tags only
    assert genre_label([]) == -1


def test_leak_free_text_drops_every_tag_with_a_genre_word():
    tags = ["heavy metal", "hip hop", "seen live", "pop rock", "female vocalists", "metalcore", "popular"]
    assert without_genre_tags(tags) == ["seen live", "female vocalists", "metalcore", "popular"]


def test_default_text_does_not_carry_the_labels_tags_and_the_leaky_variant_says_so(shared_data, lastfm):
    leaky = load_dataset("lastfm-2k", text="minilm-leaky")
    assert leaky.info["variant"] == "text=minilm-leaky" and "leakage" in leaky.info["leakage"]
    assert lastfm.info["leakage"].startswith("none") and "(11 artists keep no tag" in lastfm.info["leakage"]
    assert leaky.modalities["text"] == (0, 384)
    # The same edges, labels and split: only the text columns differ.
    assert torch.equal(leaky.edge_index, lastfm.edge_index) and torch.equal(leaky.y, lastfm.y)
    assert torch.equal(leaky.train_mask, lastfm.train_mask)


def test_modalities_are_standardised_and_reduced_with_train_statistics_only(shared_data, lastfm):
    train = lastfm.train_mask
    audio = lastfm.modality("audio")[train].double()
    assert torch.allclose(audio.mean(0), torch.zeros(128, dtype=torch.float64), atol=1e-4)
    assert torch.allclose(audio.std(0, unbiased=False), torch.ones(128, dtype=torch.float64), atol=1e-3)
    assert not torch.allclose(lastfm.modality("audio")[~train].double().mean(0), torch.zeros(128, dtype=torch.float64),
                              atol=1e-3)
    reduced = load_dataset("lastfm-2k", width=64)
    assert reduced.modalities == {"text": (0, 64), "audio": (64, 128)} and reduced.info["variant"] == "width=64"
    pcs = reduced.modality("audio")[train].double()
    cov = pcs.T @ pcs / pcs.shape[0]
    off_diagonal = cov - torch.diag(torch.diag(cov))
    assert off_diagonal.abs().max() < 1e-3 * cov.diag().max()  # decorrelated on the train nodes
    assert torch.all(cov.diag()[:-1] >= cov.diag()[1:] - 1e-6)  # ordered by variance
    again = load_dataset("lastfm-2k", width=64)
    assert torch.equal(again.x, reduced.x)


def test_inductive_setting_and_split_seed(shared_data):
    g = load_dataset("lastfm-2k", setting="inductive", split_seed=3)
    assert g.setting == "inductive" and g.info["variant"] == "setting=inductive;split_seed=3"
    assert int(g.train_mask.sum()) == 796 and g.visible_graph().num_nodes == 796


def test_co_listening_edges_keep_the_top_k_jaccard_neighbours():
    # users 0-2 listen to items 0,1; user 3 to items 1,2; item 3 shares no listener with anyone
    rows = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [2, 0], [2, 1], [3, 1], [3, 2], [4, 3]])
    edges = co_listening_edges(rows, 4, k=1)
    pairs = set(map(tuple, edges.T.tolist()))
    assert pairs == {(0, 1), (1, 0), (2, 1)}  # item 3 has no positive neighbour


def test_bad_files_fail_with_one_line(shared_data, tmp_path):
    src = shared_data / "lastfm-2k"
    for name in ("lfm2k.inter", "lfm2k_og_ids.inter", "lfm2k_text.tsv", "vggish.npy", "all-MiniLM-L6-v2.npy"):
        shutil.copy(src / name, tmp_path / name)
    (tmp_path / "whisper.npy").write_bytes(b"not an array")
    with pytest.raises(InputError, match="whisper.npy: not a readable .npy array"):
        load_dataset("lastfm-2k", root=str(tmp_path), audio="whisper", text="minilm-leaky")
    lines = (tmp_path / "lfm2k_og_ids.inter").read_text().splitlines()
    (tmp_path / "lfm2k_og_ids.inter").write_text("\n".join(lines[:-5]) + "\n")
    with pytest.raises(InputError, match="lfm2k_og_ids.inter: expected the 56345 rows of lfm2k.inter"):
        load_dataset("lastfm-2k", root=str(tmp_path), text="minilm-leaky")
    (tmp_path / "lfm2k_og_ids.inter").write_text("user item\n1 2\n")
    with pytest.raises(InputError, match="expected a tab-separated header"):
        load_dataset("lastfm-2k", root=str(tmp_path), text="minilm-leaky")
    np.save(tmp_path / "vggish.npy", np.zeros((10, 128)))
    shutil.copy(src / "lfm2k_og_ids.inter", tmp_path / "lfm2k_og_ids.inter")
    with pytest.raises(InputError, match=r"expected item ids in \[0, 10\)"):
        load_dataset("lastfm-2k", root=str(tmp_path), text="minilm-leaky")
    with pytest.raises(InputError, match="option width: expected at most 128"):
        load_dataset("lastfm-2k", width=200)
    with pytest.raises(InputError, match="option k: expected a positive"):
        load_dataset("lastfm-2k", k=0)
    with pytest.raises(InputError, match="lfm2k.inter not found"):
        load_dataset("lastfm-2k", root=str(tmp_path / "missing"))
