"""Provenance: one git commit rule (``+dirty`` for local changes) and one source for every writer."""

from __future__ import annotations

import subprocess

import pytest
import torch

from mmgc import provenance
from mmgc.provenance import commit_of


def _git(repo, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@example.org", "-c", "user.name=t", *args],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # never find a repository above tmp_path
    folder = tmp_path / "repo"
    folder.mkdir()
    try:
        _git(folder, "init", "-q")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git is not available")
    (folder / "a.txt").write_text("one\n")
    _git(folder, "add", "a.txt")
    _git(folder, "commit", "-q", "-m", "first")
    return folder


def test_commit_is_head_and_dirty_only_when_tracked_files_changed(repo):
    head = _git(repo, "rev-parse", "HEAD")
    assert commit_of(repo) == head
    (repo / "untracked.txt").write_text("new\n")  # an untracked file leaves the tree clean
    assert commit_of(repo) == head
    (repo / "a.txt").write_text("two\n")
    assert commit_of(repo) == head + "+dirty"


def test_outside_a_checkout_there_is_no_commit(repo):
    plain = repo.parent / "plain"
    plain.mkdir()
    assert commit_of(plain) is None


def test_evaluation_rows_and_trial_columns_share_one_provenance():
    from mmgc.harness.evaluate import _provenance
    from mmgc.harness.trial import TrialSpec, base_values

    from_eval = _provenance(torch.device("cpu"))
    from_trial = base_values(TrialSpec(dataset="tiny", method="random"))
    expected = {"git_commit": provenance.git_commit(), "package_version": provenance.package_version(),
                "node": provenance.node_name()}
    for key, value in expected.items():
        assert from_eval[key] == from_trial[key] == value
    assert from_eval["device"] == "cpu"
