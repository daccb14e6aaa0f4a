"""The multimodal contextual SBM: semantics of every knob, determinism, presets, bad options."""

from __future__ import annotations

import pytest
import torch

from mmgc.datasets import load_dataset
from mmgc.datasets.synthetic import SyntheticOptions, class_sizes, generate
from mmgc.errors import InputError


def test_default_synthetic_shape():
    g = load_dataset("synthetic")
    assert g.num_nodes == 3000 and g.num_classes == 6
    assert g.modalities == {"text": (0, 128), "image": (128, 256)}
    assert g.setting == "inductive" and g.metric == "accuracy"
    assert g.info["provenance"] == "synthetic" and g.info["encoder"] == "synthetic-aligned"
    assert g.info["knobs"]["conflict"] == 0.2 and g.info["variant"] == ""
    assert (int(g.train_mask.sum()), int(g.val_mask.sum()), int(g.test_mask.sum())) == (1800, 600, 600)
    assert g.x.dtype == torch.float32


def test_deterministic_under_seed_and_different_across_seeds():
    a, b, c = load_dataset("synthetic"), load_dataset("synthetic"), load_dataset("synthetic", seed=1)
    assert torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index) and torch.equal(a.y, b.y)
    assert torch.equal(a.train_mask, b.train_mask)
    assert not torch.equal(a.x, c.x) and not torch.equal(a.y, c.y)


def test_homophily_and_degree_knobs():
    for h in (0.2, 0.9):
        g = load_dataset("synthetic", homophily=h, nodes=4000, avg_degree=8)
        assert abs(g.edge_homophily() - h) < 0.03
        assert 7.5 < 2 * g.num_edges / g.num_nodes <= 8.0


def test_imbalance_knob():
    sizes = class_sizes(1000, 4, 8.0)
    assert int(sizes.sum()) == 1000 and abs(float(sizes[0]) / float(sizes[-1]) - 8.0) < 0.2
    g = load_dataset("synthetic", imbalance=5)
    counts = torch.bincount(g.y)
    assert counts[0] > 4 * counts[-1]


def _centroids(g, modality):
    x = g.modality(modality)
    return torch.stack([x[g.y == c].mean(0) for c in range(g.num_classes)])


def test_aligned_shares_coordinates_up_to_a_constant_offset():
    g = load_dataset("synthetic", conflict=0, nodes=6000)
    t, i = _centroids(g, "text"), _centroids(g, "image")
    # same class geometry in the same coordinates: centred centroids coincide
    tc, ic = t - t.mean(0), i - i.mean(0)
    cos = torch.nn.functional.cosine_similarity(tc, ic, dim=1)
    assert float(cos.min()) > 0.9
    # and the modality gap is a constant offset of norm modality_gap
    gap = float((t.mean(0) - i.mean(0)).norm())
    assert 2.0 < gap < 6.0  # two offsets of norm 3 in random directions (~3*sqrt(2)), plus noise


def test_unaligned_columns_do_not_correspond_but_geometry_is_kept():
    g = load_dataset("synthetic", conflict=0, nodes=6000, alignment="unaligned")
    t, i = _centroids(g, "text"), _centroids(g, "image")
    tc, ic = t - t.mean(0), i - i.mean(0)
    cos = torch.nn.functional.cosine_similarity(tc, ic, dim=1)
    assert float(cos.abs().max()) < 0.4
    # a rotation keeps the class geometry: the Gram matrices of the centroids agree
    gt, gi = tc @ tc.T, ic @ ic.T
    assert float((gt - gi).norm() / gt.norm()) < 0.15
    # default noise levels differ per modality (1.0 text, 1.5 image)
    assert g.info["knobs"]["noise"] == [1.0, 1.5]
    within_t = (g.modality("text") - t[g.y]).std()
    within_i = (g.modality("image") - i[g.y]).std()
    assert 1.35 < float(within_i / within_t) < 1.65


def test_aligned_needs_equal_dims_unaligned_does_not():
    with pytest.raises(InputError, match="alignment=aligned needs equal modality widths"):
        load_dataset("synthetic", dims="64,32")
    g = load_dataset("synthetic", dims="64,32", alignment="unaligned")
    assert g.modalities == {"text": (0, 64), "image": (64, 96)}


def test_conflict_moves_image_signal_to_another_class():
    opts = SyntheticOptions(nodes=6000, conflict=0.3)
    g, truth = generate(opts, return_truth=True)
    mask = truth["conflict_mask"]
    assert abs(float(mask.float().mean()) - 0.3) < 1e-3
    img_class = truth["feature_class"]["image"]
    assert bool((img_class[mask] != g.y[mask]).all()) and bool((img_class[~mask] == g.y[~mask]).all())
    assert bool((truth["feature_class"]["text"] == g.y).all())
    # the image block of a conflicting node sits nearest another class's (clean) centroid
    clean = ~mask
    x = g.modality("image")
    cent = torch.stack([x[clean & (g.y == c)].mean(0) for c in range(g.num_classes)])
    nearest = torch.cdist(x[mask], cent).argmin(1)
    assert float((nearest == img_class[mask]).float().mean()) > 0.5
    assert float((nearest == g.y[mask]).float().mean()) < 0.2


def test_signal_knob_zero_removes_class_information():
    g = load_dataset("synthetic", signal="0,2", conflict=0, nodes=6000)
    t = _centroids(g, "text")
    assert float((t - t.mean(0)).norm(dim=1).max()) < 0.8  # only sampling noise (~sqrt(128/1000))
    i = _centroids(g, "image")
    assert float((i - i.mean(0)).norm(dim=1).min()) > 1.5


def test_three_modalities_and_names():
    g = load_dataset("synthetic", dims="32,32,32", modality_names="text,image,audio", signal="1,1,1")
    assert list(g.modalities) == ["text", "image", "audio"] and g.info["knobs"]["conflict_modality"] == "audio"


@pytest.mark.parametrize("name,classes,dims,setting,metric", [
    ("synth-ele-fashion", 12, 1024, "inductive", "accuracy"),
    ("synth-goodreads-nc", 11, 1024, "inductive", "accuracy"),
    ("synth-amazon-sports", 2, 2048, "transductive", "roc_auc"),
    ("synth-amazon-cloth", 2, 2048, "transductive", "roc_auc"),
])
@pytest.mark.parametrize("alignment", ["aligned", "unaligned"])
def test_presets_at_reduced_scale(name, classes, dims, setting, metric, alignment):
    scale = 0.002 if name == "synth-goodreads-nc" else 0.02
    g = load_dataset(name, scale=scale, alignment=alignment)
    assert g.name == name and g.num_classes == classes and g.feature_dim == dims
    assert (g.setting, g.metric) == (setting, metric)
    assert g.info["encoder"] == f"synthetic-{alignment}"
    expected = f"scale={scale}" if alignment == "aligned" else f"alignment=unaligned;scale={scale}"
    assert g.info["variant"] == expected


def test_preset_full_size_numbers_are_the_papers():
    from mmgc.datasets import get_dataset_spec

    for name, nodes in (("synth-ele-fashion", 97766), ("synth-goodreads-nc", 685294),
                        ("synth-amazon-sports", 31073), ("synth-amazon-cloth", 84357)):
        opts = get_dataset_spec(name).options()
        assert opts.num_nodes == nodes
    opts = get_dataset_spec("synth-goodreads-nc").options()
    assert abs(opts.nodes * opts.avg_degree / 2 - 7_235_084) / 7_235_084 < 0.01


@pytest.mark.parametrize("options,match", [
    ({"homophily": 1.5}, "homophily: expected a fraction"),
    ({"conflict": -0.1}, "conflict: expected a fraction"),
    ({"signal": "1,2,3"}, "signal: expected 2 values"),
    ({"noise": "0,1"}, "noise: expected finite values > 0"),
    ({"classes": 1}, "classes: expected at least 2"),
    ({"nodes": 20}, "nodes: expected at least 10 nodes per class"),
    ({"split": "0.8,0.3,0.1"}, "split: expected positive fractions"),
    ({"alignment": "sideways"}, "alignment: expected one of"),
    ({"conflict_modality": "audio"}, "conflict_modality: expected one of"),
    ({"imbalance": 0.5}, "imbalance: expected a finite ratio >= 1"),
    ({"scale": 0}, "scale: expected a positive number"),
    ({"metric": "roc_auc"}, "roc_auc needs classes=2"),
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"nodes": "many"}, "expected int"),
])
def test_bad_options(options, match):
    with pytest.raises(InputError, match=match):
        load_dataset("synthetic", **options)


def test_output_does_not_depend_on_thread_count():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        a = load_dataset("synthetic", nodes=20000, dims="16,16")  # more than one feature chunk
        torch.set_num_threads(max(2, before))
        b = load_dataset("synthetic", nodes=20000, dims="16,16")
    finally:
        torch.set_num_threads(before)
    assert torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index)


# ------------------------------------------------------------------------------------ class-structured conflict
def test_conflict_map_swaps_the_image_class_of_the_mapped_classes_only():
    opts = SyntheticOptions(nodes=1200, conflict=1.0, conflict_map="0-1,2-3")
    g, truth = generate(opts, return_truth=True)
    image = truth["feature_class"]["image"]
    swap = torch.tensor([1, 0, 3, 2, 4, 5])
    assert torch.equal(image, swap[g.y])
    assert torch.equal(truth["conflict_mask"], g.y < 4)
    assert g.info["knobs"]["conflict_map"] == swap.tolist() and g.info["knobs"]["conflict_nodes"] == int((g.y < 4).sum())
    # a full permutation list means the same; a fraction keeps the other nodes clean
    h, truth_h = generate(SyntheticOptions(nodes=1200, conflict=0.5, conflict_map="1,0,3,2,4,5"), return_truth=True)
    moved = truth_h["conflict_mask"]
    assert torch.equal(truth_h["feature_class"]["image"][moved], swap[h.y[moved]])
    assert 0.4 < float(moved[h.y < 4].float().mean()) < 0.6 and not bool(moved[h.y >= 4].any())


def test_conflict_snr_scales_only_the_conflict_modality():
    from mmgc.datasets.synthetic import modality_centres

    for snr in (1.0, 0.25):
        opts = SyntheticOptions(conflict_snr=snr)
        centres, _ = modality_centres(opts, torch.Generator().manual_seed(0))
        assert torch.allclose(centres[0].norm(dim=1), torch.full((6,), 1.5))
        assert torch.allclose(centres[1].norm(dim=1), torch.full((6,), 1.5 * snr))
    # and the data follow: the image centroids of a weak image modality sit closer together
    base, weak = (load_dataset("synthetic", conflict=0, nodes=6000, conflict_snr=s) for s in (1.0, 0.25))
    spread = [float((c - c.mean(0)).norm(dim=1).mean()) for c in (_centroids(base, "image"), _centroids(weak, "image"))]
    assert spread[1] < 0.5 * spread[0]
    assert torch.equal(base.modality("text"), weak.modality("text"))


@pytest.mark.parametrize("text", ["0-1,1-2", "0-0", "0-9", "1,0,2", "0,0,1,2,3,4", "a-b"])
def test_bad_conflict_maps_are_refused(text):
    with pytest.raises(InputError, match="conflict_map: expected swaps of distinct classes"):
        load_dataset("synthetic", conflict_map=text)


def _trained_conflicts(g, steps=20, seed=0):
    from mmgc.methods.modality_gradients import node_conflicts
    from mmgc.models import build_backbone
    from mmgc.models.training import graph_adjacency

    visible = g.visible_graph()
    torch.manual_seed(seed)
    model = build_backbone("sgc", visible.x.shape[1], 64, g.num_classes, layers=2, dropout=0.0,
                           modalities=visible.modalities)
    adj, train = graph_adjacency(visible), visible.train_mask.nonzero()[:, 0]
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(visible.x, adj)[train], visible.y[train]).backward()
        opt.step()
    return node_conflicts(model, visible.x, adj, visible.y, train, visible.modalities)[train], visible.y[train]


def test_conflicts_concentrate_on_the_permuted_classes_after_training():
    g = load_dataset("synthetic-conflict", nodes=1500, dims="64,64")
    conflict, y = _trained_conflicts(g)
    on_moved, elsewhere = float(conflict[y < 4].float().mean()), float(conflict[y >= 4].float().mean())
    assert on_moved > 0.3 and elsewhere < 0.15, (on_moved, elsewhere)


def test_random_class_conflicts_are_invisible_to_a_trained_backbone():
    """The negative control: 20% of nodes whose image carries a random other class look, to the
    per-node gradients, like the clean nodes."""
    g, truth = generate(SyntheticOptions(nodes=1500, dims=(64, 64)), return_truth=True)
    conflict, _ = _trained_conflicts(g)
    mask = truth["conflict_mask"][g.train_mask]
    assert abs(float(conflict[mask].float().mean()) - float(conflict[~mask].float().mean())) < 0.1


def test_conflict_presets():
    g = load_dataset("synthetic-conflict")
    assert g.num_nodes == 3000 and g.info["knobs"]["conflict_map"] == [1, 0, 3, 2, 4, 5] and g.info["variant"] == ""
    e = load_dataset("synth-ele-fashion-conflict", scale=0.02)
    assert e.num_classes == 12 and e.feature_dim == 1024
    assert e.info["knobs"]["conflict_map"] == [1, 0, 3, 2, 5, 4, 6, 7, 8, 9, 10, 11]
