"""The results directory of a run: ``results/<test>/<UTC start>/`` and ``results/latest``."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import yaml

__all__ = ["RunDir", "spec_to_dict"]


class RunDir:
    """One run's directory. Files: spec.yaml, history.jsonl, results.json, harness.log,
    nodes/<node>/ (logs and data), and whatever the checkers draw."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, root: Path, test: str) -> RunDir:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        base = root / _safe(test)
        path = base / stamp
        n = 1
        while path.exists():  # two runs in the same second
            n += 1
            path = base / f"{stamp}-{n}"
        path.mkdir(parents=True)
        latest = root / "latest"
        try:
            if latest.is_symlink() or latest.exists():
                latest.unlink()
            latest.symlink_to(path.relative_to(root))
        except OSError:
            pass  # a filesystem without symlinks: latest is a convenience
        return cls(path)

    @property
    def history(self) -> Path:
        return self.path / "history.jsonl"

    @property
    def results(self) -> Path:
        return self.path / "results.json"

    @property
    def nodes(self) -> Path:
        return self.path / "nodes"

    def write_spec(self, spec: Any, extra: dict[str, Any]) -> None:
        data = {**spec_to_dict(spec), **extra}
        (self.path / "spec.yaml").write_text(yaml.safe_dump(data, sort_keys=False))

    def write_results(self, results: dict[str, Any]) -> None:
        tmp = self.results.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(results, indent=2, default=str))
        os.replace(tmp, self.results)


def spec_to_dict(spec: Any) -> dict[str, Any]:
    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple | list):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    out = plain(spec)
    assert isinstance(out, dict)
    return out


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "test"
