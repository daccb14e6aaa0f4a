"""Last.fm-2K (HetRec 2011) as a node-classification graph with real text and audio features.

Files, under ``--root`` (or ``$MMGC_LASTFM_ROOT``, ``$MMGC_DATA/lastfm``, then
``../shared/data/lastfm-2k``), as released for multimodal recommendation:

- ``lfm2k.inter`` and ``lfm2k_og_ids.inter``: the same listening rows (``userID itemID rating
  x_label``, tab-separated, one header line) with remapped and with original HetRec ids; zipped row
  by row they map item id -> HetRec ``artistID``;
- ``vggish.npy`` (``[N, 128]``, VGGish's 0-255 scale), ``whisper.npy`` (``[N, 512]``),
  ``all-MiniLM-L6-v2.npy`` (``[N, 384]``, a MiniLM embedding of the artist's comma-joined tags);
  row i is item i;
- ``lfm2k_text.tsv``: ``artistID<TAB>tag,tag,...`` (the HetRec tags of each artist).

The graph (every choice is an option, see `LastFMOptions`):

- **nodes**: the N artists that have features (item ids ``0..N-1``);
- **edges**: co-listening. Each artist's listener set comes from the interaction rows; artist pairs
  are scored by the Jaccard similarity of their listener sets, each artist keeps its ``k`` most
  similar artists (positive similarity only, ties broken by the lower item id), and the union is
  made undirected;
- **labels**: a genre from the artist's tags by `GENRES`, a priority list with the rarer genres
  first: an artist gets the first genre one of whose names equals one of its tags (whole tag, lower
  case); artists with no such tag are unlabelled (-1);
- **modalities**: ``text`` and ``audio``. Every genre name of `GENRES` defines labels, so the
  default text (``text=wordllama``) embeds the tag string *without* every tag that contains a genre
  name as a word (``rock``, ``indie rock``, ``heavy metal``, ``hip hop`` ...), with WordLlama
  (a static token-embedding model whose weights ship inside its wheel; runs offline).
  ``text=minilm-leaky`` reads the published MiniLM vectors of *all* tags, labels' tags included: the
  label leaks into that modality, and the variant and ``info.leakage`` say so;
- **scaling**: each modality is standardised per column with the mean and standard deviation of
  the train nodes (VGGish is on a 0-255 scale); ``width=K`` then reduces every modality to K columns
  with a PCA fitted on the train nodes only (equal widths for per-node modality inner products);
- **split**: a seeded 60/20/20 permutation of the labelled nodes; transductive by default
  (``setting=inductive`` condenses on the train-induced subgraph).

License: HetRec 2011 data, non-commercial research use only (see ``hetrec-readme.txt``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import numpy as np
import torch

from mmgc.datasets import register_dataset
from mmgc.datasets._common import (
    options_dict, random_split, read_npy_features, require_file, resolve_dir, split_fractions, variant_string,
)
from mmgc.errors import InputError
from mmgc.graph import MultimodalGraph

NAME = "lastfm-2k"
CITATION = ("Cantador et al. 2011, HetRec 2011 (Last.fm 2K); features as processed in the multimodal "
            "recommendation reproducibility study of RecSys 2025")
LICENSE = "HetRec 2011: non-commercial research use only (see hetrec-readme.txt in the data folder)"
AUDIO_FILES = {"vggish": "vggish.npy", "whisper": "whisper.npy"}
MINILM_FILE = "all-MiniLM-L6-v2.npy"

GENRES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("reggae", ("reggae",)),
    ("classical", ("classical",)),
    ("country", ("country",)),
    ("jazz", ("jazz",)),
    ("hip-hop", ("hip-hop", "hip hop", "rap")),
    ("metal", ("metal",)),
    ("punk", ("punk",)),
    ("rnb-soul", ("rnb", "soul")),
    ("folk", ("folk",)),
    ("electronic", ("electronic",)),
    ("pop", ("pop",)),
    ("rock", ("rock", "indie", "alternative")),
)
"""Label priority, rarer genres first: (class name, the tags that give it). Class i is ``GENRES[i]``."""

_GENRE_WORD = re.compile(
    r"(?<![a-z0-9])(" + "|".join(re.escape(t) for _, tags in GENRES for t in tags) + r")(?![a-z0-9])"
)


@dataclass
class LastFMOptions:
    """Options of ``lastfm-2k``.

    Attributes:
        k: neighbours kept per artist by Jaccard similarity of listener sets (before symmetrising).
        audio: the audio embedding, ``vggish`` (128 columns) or ``whisper`` (512 columns).
        text: ``wordllama`` (tags without any genre word, embedded offline; no label leakage) or
            ``minilm-leaky`` (the published MiniLM vectors of all tags: embeds the labels' tags).
        width: reduce every modality to this many columns (PCA fitted on train nodes); None keeps
            the native widths.
        standardize: z-score each column with the train nodes' mean and standard deviation.
        setting: ``transductive`` or ``inductive``.
        split: train/val/test fractions of the labelled nodes.
        split_seed: seed of the split permutation.
    """

    k: int = 10
    audio: Literal["vggish", "whisper"] = "vggish"
    text: Literal["wordllama", "minilm-leaky"] = "wordllama"
    width: Optional[int] = None
    standardize: bool = True
    setting: Literal["transductive", "inductive"] = "transductive"
    split: tuple[float, ...] = (0.6, 0.2, 0.2)
    split_seed: int = 0

    def __post_init__(self) -> None:
        if self.k < 1:
            raise InputError(f"lastfm-2k option k: expected a positive number of neighbours, found {self.k}")
        if self.width is not None and self.width < 1:
            raise InputError(f"lastfm-2k option width: expected a positive number of columns, found {self.width}")
        split_fractions(self.split, "lastfm-2k option split")


def genre_label(tags: list[str]) -> int:
    """The class of an artist with these (lower-case) tags: the first genre of `GENRES` one of
    whose tag names is among them; -1 if none is."""
    present = set(tags)
    for label, (_, names) in enumerate(GENRES):
        if present.intersection(names):
            return label
    return -1


def without_genre_tags(tags: list[str]) -> list[str]:
    """The tags that contain no genre name as a word: what the leak-free text embeds."""
    return [t for t in tags if not _GENRE_WORD.search(t)]


def _read_rows(path: Path) -> np.ndarray:
    """``userID itemID`` of a ``.inter`` file as an ``[R, 2]`` int64 array."""
    require_file(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].split("\t")[:2] != ["userID", "itemID"]:
        found = lines[0][:60] if lines else "an empty file"
        raise InputError(f"{path}: expected a tab-separated header starting 'userID\\titemID', found {found!r}")
    rows = np.empty((len(lines) - 1, 2), dtype=np.int64)
    for i, line in enumerate(lines[1:]):
        parts = line.split("\t")
        try:
            rows[i] = int(parts[0]), int(parts[1])
        except (ValueError, IndexError):
            raise InputError(f"{path}: line {i + 2}: expected integer userID and itemID, found {line[:60]!r}") from None
    if rows.size and rows.min() < 0:
        raise InputError(f"{path}: expected non-negative ids, found {int(rows.min())}")
    return rows


def _artist_of_item(folder: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(``[R, 2]`` remapped user/item rows, ``[n]`` HetRec artist id of each item)."""
    inter_path, og_path = folder / "lfm2k.inter", folder / "lfm2k_og_ids.inter"
    rows, og = _read_rows(inter_path), _read_rows(og_path)
    if rows.shape != og.shape:
        raise InputError(f"{og_path}: expected the {rows.shape[0]} rows of {inter_path.name} in the same order, "
                         f"found {og.shape[0]} rows")
    items = rows[:, 1]
    if items.size == 0 or int(items.max()) >= n:
        top = int(items.max()) if items.size else None
        raise InputError(f"{inter_path}: expected item ids in [0, {n}) (the feature rows), found max {top}")
    artist = np.full(n, -1, dtype=np.int64)
    artist[items] = og[:, 1]
    mismatch = artist[items] != og[:, 1]
    if mismatch.any():
        row = int(np.flatnonzero(mismatch)[0])
        raise InputError(f"{og_path}: line {row + 2}: item {int(items[row])} maps to two artist ids; expected one")
    if (artist < 0).any():
        raise InputError(f"{inter_path}: expected every item 0..{n - 1} to have listening rows, found "
                         f"{int((artist < 0).sum())} without (first item {int(np.flatnonzero(artist < 0)[0])})")
    return rows, artist


def _read_tags(path: Path, artists: np.ndarray) -> list[list[str]]:
    require_file(path)
    tags: dict[int, list[str]] = {}
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()[1:]):
        artist, _, text = line.partition("\t")
        try:
            tags[int(artist)] = [t.strip().lower() for t in text.split(",") if t.strip()]
        except ValueError:
            raise InputError(f"{path}: line {i + 2}: expected an integer artistID, found {artist[:30]!r}") from None
    return [tags.get(int(a), []) for a in artists]


def co_listening_edges(rows: np.ndarray, n: int, k: int) -> torch.Tensor:
    """``[2, E]`` edges: each item's ``k`` most Jaccard-similar items by listener set (positive
    similarity; ties to the lower id), one direction per pair (the graph makes them undirected)."""
    users = int(rows[:, 0].max()) + 1
    listens = torch.zeros(n, users, dtype=torch.float64)
    listens[torch.from_numpy(rows[:, 1]), torch.from_numpy(rows[:, 0])] = 1.0
    shared = listens @ listens.T
    size = listens.sum(1)
    jaccard = shared / (size[:, None] + size[None, :] - shared).clamp_min(1.0)
    jaccard.fill_diagonal_(-1.0)
    order = torch.from_numpy(np.argsort(-jaccard.numpy(), axis=1, kind="stable")[:, :k].copy())
    src = torch.arange(n).repeat_interleave(order.shape[1])
    dst = order.reshape(-1)
    keep = jaccard[src, dst] > 0
    return torch.stack([src[keep], dst[keep]])


def _wordllama_text(tags: list[list[str]]) -> tuple[torch.Tensor, str]:
    try:
        import wordllama
        from wordllama import WordLlama
    except ImportError:
        raise InputError("lastfm-2k option text=wordllama: the wordllama package is not installed "
                         "(pip install wordllama); or choose text=minilm-leaky") from None
    # The wheel ships its weights and tokenizer under the package folder; the loader looks for the
    # tokenizer in a folder the wheel does not have unless that folder is given as its cache.
    model = WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
    strings = [", ".join(without_genre_tags(t)) for t in tags]
    vectors = np.asarray(model.embed(strings), dtype=np.float32)
    empty = [i for i, s in enumerate(strings) if not s]
    vectors[empty] = 0.0
    encoder = f"wordllama-{getattr(wordllama, '__version__', '?')} (l2_supercat, 256)"
    return torch.from_numpy(vectors), encoder, f"none: genre tags left out ({len(empty)} artists keep no tag: zero text)"


def _scale_on_train(x: torch.Tensor, train: torch.Tensor, standardize: bool, width: Optional[int],
                      where: str) -> torch.Tensor:
    """Standardise with train statistics, then project on the train nodes' top ``width`` principal
    axes (signs fixed so the largest loading of each axis is positive: deterministic)."""
    x = x.double()
    fit = x[train]
    if standardize:
        std = fit.std(0, unbiased=False)
        x = (x - fit.mean(0)) / torch.where(std > 0, std, torch.ones_like(std))
        fit = x[train]
    if width is not None:
        if width > x.shape[1]:
            raise InputError(f"lastfm-2k option width: expected at most {x.shape[1]} (the {where} width), found {width}")
        centre = fit.mean(0)
        _, _, vh = torch.linalg.svd(fit - centre, full_matrices=False)
        axes = vh[:width]
        sign = torch.sign(axes.gather(1, axes.abs().argmax(1, keepdim=True)))
        x = (x - centre) @ (axes * sign).T
    return x.float()


def load_lastfm(root, options: LastFMOptions) -> MultimodalGraph:
    folder = resolve_dir("lastfm", root, NAME, "lfm2k.inter")
    audio_path = folder / AUDIO_FILES[options.audio]
    audio = read_npy_features(audio_path)
    n = audio.shape[0]
    rows, artists = _artist_of_item(folder, n)
    tags = _read_tags(folder / "lfm2k_text.tsv", artists)
    y = torch.tensor([genre_label(t) for t in tags], dtype=torch.long)
    if options.text == "wordllama":
        text, text_encoder, leakage = _wordllama_text(tags)
    else:
        text, text_encoder = read_npy_features(folder / MINILM_FILE, n), "all-MiniLM-L6-v2 of all tags"
        leakage = "text embeds the genre tags that define the labels (label leakage)"
    labelled = (y >= 0).nonzero()[:, 0]
    masks = random_split(labelled, options.split, options.split_seed, "lastfm-2k option split", n)
    train = masks["train_mask"]
    text = _scale_on_train(text, train, options.standardize, options.width, "text")
    audio = _scale_on_train(audio, train, options.standardize, options.width, "audio")
    counts = torch.bincount(y[labelled], minlength=len(GENRES))
    info = {
        "name": NAME, "source": "lastfm", "citation": CITATION, "license": LICENSE, "files": str(folder),
        "provenance": "real", "encoder": f"text={text_encoder}, audio={options.audio}",
        "leakage": leakage, "labelled": int(labelled.numel()),
        "class_names": [name for name, _ in GENRES],
        "class_sizes": {name: int(c) for (name, _), c in zip(GENRES, counts)},
        "split": f"seed-{options.split_seed} permutation of the labelled nodes, "
                 f"{'/'.join(str(round(100 * f)) for f in options.split)}",
        "variant": variant_string(options), "options": options_dict(options),
    }
    return MultimodalGraph(
        x=torch.cat([text, audio], dim=1), edge_index=co_listening_edges(rows, n, options.k), y=y, **masks,
        modalities={"text": (0, text.shape[1]), "audio": (text.shape[1], text.shape[1] + audio.shape[1])},
        setting=options.setting, metric="accuracy", info=info, num_classes=len(GENRES),
    )


@register_dataset(NAME, "lastfm", "Last.fm-2K artists (1,425 nodes, 12 genres): real text + audio embeddings, "
                  "co-listening edges; non-commercial research use", LastFMOptions)
def _lastfm(root, options):
    return load_lastfm(root, options)
