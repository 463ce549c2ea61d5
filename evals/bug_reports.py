"""The shared duplicate-bug-report data (GitBugs, CC BY 4.0): reports and their duplicate groups."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

DATA_DIR = Path(os.environ.get("REFINERY_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SPLITS = {"dev": "hadoop", "test": "SeaMonkey"}  # tune on Hadoop; SeaMonkey is held out


@dataclass
class BugReport:
    id: str
    title: str
    description: str
    priority: str = ""
    created: str = ""


@dataclass
class DuplicateCorpus:
    name: str
    reports: list[BugReport]
    groups: dict[str, set[str]] = field(default_factory=dict)  # report id -> the other reports of the same bug

    @property
    def queries(self) -> list[str]:
        """Every report with at least one duplicate in the corpus."""
        return [r.id for r in self.reports if self.groups.get(r.id)]


def load_corpus(split: str = "dev", data_dir: Path = DATA_DIR) -> DuplicateCorpus:
    """Reports of one tracker; duplicate links are made symmetric and closed (A~B, B~C => A~C), restricted to
    reports present in the file."""
    name = SPLITS.get(split, split)
    folder = data_dir / "duplicate_bugs"
    if not (folder / f"{name}_bugs.csv").is_file():
        raise FileNotFoundError(f"{folder / f'{name}_bugs.csv'} not found; set REFINERY_SHARED_DATA to shared/data")
    csv.field_size_limit(10_000_000)
    with open(folder / f"{name}_bugs.csv", newline="", encoding="utf-8") as handle:
        reports = [
            BugReport(
                id=row["Issue id"].strip(),
                title=row["Summary"] or "",
                description=row.get("Description") or "",
                priority=row.get("Priority") or "",
                created=row.get("Created") or "",
            )
            for row in csv.DictReader(handle)
        ]
    present = {r.id for r in reports}
    parent = {rid: rid for rid in present}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    with open(folder / f"{name}_bugs-combined.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            source = row["Issue id"].strip()
            for target in (t.strip() for t in row["Duplicate id"].split(",")):
                if source in present and target in present and source != target:
                    parent[find(source)] = find(target)
    members: dict[str, set[str]] = {}
    for rid in present:
        members.setdefault(find(rid), set()).add(rid)
    groups = {rid: members[find(rid)] - {rid} for rid in present if len(members[find(rid)]) > 1}
    return DuplicateCorpus(name=name, reports=reports, groups=groups)
