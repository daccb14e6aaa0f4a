"""Named method presets: published recipes as data, applied under the user's own values.

A preset is a set of config values for one method, for example GCond's published Cora command. It
is data, not code: every preset lives in ``mmgc/presets.yaml`` (shipped with the package), and no
code branches on a preset's, a method's or a dataset's name. `mmgc run --preset NAME` and
`mmgc condense --preset NAME` apply one (``--set`` values win over it), an experiment file applies
one with ``preset: NAME`` in a method entry (``fixed``, ``search`` and ``grid`` keys win over it),
and `mmgc methods info METHOD` lists a method's presets.

File format (``mmgc/presets.yaml``)::

    x-shared: &shared {backbone: sgc}    # top-level keys starting with x- are ignored: YAML anchors
    METHOD:                              # a registered method name (`mmgc methods list`)
      PRESET:                            # the preset's name: letters, digits, '.', '_', '-'
        description: one line            # required: what the preset is
        source: where it was published   # optional: paper, repository@commit and file
        datasets: [cora, citeseer]       # optional: the datasets it was published for; applying it
                                         #   to another dataset prints a warning, nothing more
        settings:                        # required: the method's config keys (`mmgc methods info
          backbone: sgc                  #   METHOD`), checked against its typed config on load
          lr_feat: 1.0e-4

To add a preset, add an entry; the test suite builds every preset's config, so a wrong key or value
fails there.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from mmgc.errors import InputError
from mmgc.methods.base import get_method
from mmgc.plugins import build_config

PRESET_FILE = Path(__file__).with_name("presets.yaml")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_KEYS = ("description", "source", "datasets", "settings")


@dataclass(frozen=True)
class Preset:
    """One named preset of one method (see the module docstring for the file format)."""

    method: str
    name: str
    description: str
    settings: Mapping[str, Any]
    datasets: tuple[str, ...] = ()
    source: str = ""

    def published_for(self, dataset: str) -> bool:
        """True when the preset names no datasets or names ``dataset``."""
        return not self.datasets or dataset in self.datasets


def _fail(where: str, expected: str, found: Any) -> None:
    raise InputError(f"{PRESET_FILE.name}: {where}: expected {expected}, found {found!r}")


@functools.lru_cache(maxsize=1)
def _read(path: str = str(PRESET_FILE)) -> tuple[Preset, ...]:
    """Every preset of the file, its shape checked (not yet its values: see `find_preset`)."""
    import yaml

    data = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(data, Mapping):
        _fail("top level", "a mapping method -> preset name -> entry", data)
    presets = []
    for method, entries in data.items():
        if isinstance(method, str) and method.startswith("x-"):
            continue
        if not isinstance(entries, Mapping):
            _fail(str(method), "a mapping preset name -> entry", entries)
        for name, entry in entries.items():
            where = f"{method}.{name}"
            if not isinstance(name, str) or not _NAME.match(name):
                _fail(where, "a preset name of letters, digits, '.', '_' or '-'", name)
            if not isinstance(entry, Mapping) or set(entry) - set(_KEYS):
                _fail(where, f"a mapping with keys {list(_KEYS)}", entry)
            description, settings = entry.get("description"), entry.get("settings")
            if not isinstance(description, str) or not description:
                _fail(f"{where}.description", "a non-empty string", description)
            if not isinstance(settings, Mapping):
                _fail(f"{where}.settings", "a mapping of config keys", settings)
            datasets = entry.get("datasets") or []
            if not isinstance(datasets, list) or not all(isinstance(d, str) for d in datasets):
                _fail(f"{where}.datasets", "a list of dataset names", datasets)
            presets.append(Preset(method=str(method), name=name, description=description, settings=dict(settings),
                                  datasets=tuple(datasets), source=str(entry.get("source") or "")))
    return tuple(presets)


def list_presets(method: str | None = None) -> list[Preset]:
    """Every shipped preset (of ``method`` only, when given), in file order."""
    return [p for p in _read() if method is None or p.method == method]


def find_preset(method: str, name: str) -> Preset:
    """The preset ``name`` of ``method``, its settings checked against the method's config.

    Raises `InputError` (one line, naming the presets that exist) when there is no such preset."""

    for preset in list_presets(method):
        if preset.name == name:
            build_config(get_method(method).Config, preset.settings, where=f"preset {method}:{name}")
            return preset
    known = [p.name for p in list_presets(method)]
    expected = f"one of {known}" if known else f"none: {method!r} has no presets"
    raise InputError(f"unknown preset {name!r} for method {method!r}; expected {expected}")


def load_preset(method: str, name: str) -> dict[str, Any]:
    """The config values of preset ``name`` of ``method`` (a fresh dict: callers may update it)."""
    return dict(find_preset(method, name).settings)
