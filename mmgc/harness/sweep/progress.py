"""The live progress display of a sweep: the overall bar (done / running / failed / remaining) and a
line per running trial; on a non-terminal output, one line per finished trial."""

from __future__ import annotations

import time
from typing import Any, Mapping

from mmgc.harness.store import wide_console
from mmgc.harness.trial import TrialSpec


def _short(spec: TrialSpec) -> str:
    variant = f"[{spec.dataset_variant}]" if spec.dataset_variant else ""
    seed = "" if spec.condense_seed is None else f" seed {spec.condense_seed}"
    return f"{spec.phase:<6} {spec.dataset}{variant}@{spec.ratio:g}/{spec.method_label}{seed}"


class SweepProgress:
    """The overall bar (done / running / failed / remaining) and a live line per running trial; on
    a non-terminal output, one line per finished trial instead."""

    def __init__(self, total: int, skipped: int, console=None, enabled: bool = True):
        self.console = console or wide_console(stderr=False)
        self.total, self.skipped, self.enabled = total, skipped, enabled
        self.ok = self.failed = 0
        self.running: dict[str, tuple[TrialSpec, float, dict]] = {}
        self.start = time.monotonic()
        self.live = None

    @property
    def done(self) -> int:
        return self.skipped + self.ok + self.failed

    def __enter__(self) -> "SweepProgress":
        if self.enabled and self.console.is_terminal:
            from rich.live import Live

            self.live = Live(self.render(), console=self.console, refresh_per_second=4, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.update(self.render())
            self.live.__exit__(*exc)
            self.live = None

    def summary(self) -> str:
        remaining = max(0, self.total - self.done - len(self.running))
        elapsed = time.monotonic() - self.start
        return (f"{self.done}/{self.total} done ({self.skipped} from the store) · {len(self.running)} running · "
                f"{self.failed} failed · {remaining} remaining · {elapsed:,.0f}s")

    def render(self):
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        bar = Table.grid(padding=(0, 1))
        bar.add_row(ProgressBar(total=max(1, self.total), completed=self.done, width=40), Text(self.summary()))
        lines = []
        now = time.monotonic()
        for spec, started, last in list(self.running.values())[:20]:
            extra = " ".join(f"{k[2:]}={v:.4g}" for k, v in last.items() if k.startswith("m/"))
            step = f" step {last['step']}" if "step" in last else ""
            lines.append(Text(f"  {_short(spec)} · {now - started:,.0f}s{step} {extra}".rstrip(), style="dim"))
        if len(self.running) > 20:
            lines.append(Text(f"  ... and {len(self.running) - 20} more running", style="dim"))
        return Group(bar, *lines)

    def refresh(self) -> None:
        if self.live is not None:
            self.live.update(self.render())

    def started(self, key: str, spec: TrialSpec) -> None:
        self.running[key] = (spec, time.monotonic(), {})
        self.refresh()

    def result(self, key: str, metrics: Mapping[str, Any]) -> None:
        if key in self.running:
            spec, started, _ = self.running[key]
            self.running[key] = (spec, started, dict(metrics))
            self.refresh()

    def finished(self, key: str, spec: TrialSpec, ok: bool, metrics: Mapping[str, Any]) -> None:
        entry = self.running.pop(key, None)
        seconds = metrics.get("seconds") or (time.monotonic() - entry[1] if entry else 0.0)
        if ok:
            self.ok += 1
        else:
            self.failed += 1
        if not self.enabled:
            return
        value = metrics.get("objective")
        val = f" val {value * 100:.1f}" if isinstance(value, float) and value == value else ""
        status = "ok    " if ok else "FAILED"
        line = f"{status} {_short(spec)}{val} in {seconds:,.1f}s on {metrics.get('node', '?')}"
        if not ok and metrics.get("error"):
            line += f": {str(metrics['error'])[:200]}"
        if self.live is not None:
            self.live.console.print(line, markup=False, highlight=False)
            self.refresh()
        else:
            self.console.print(f"[{self.summary()}] {line}", markup=False, highlight=False)
