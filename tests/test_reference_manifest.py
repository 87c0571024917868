"""The project's copy of the reference data: complete, unchanged and documented.

Questions answered:

- test_every_file_matches_its_checksum: is every file under tests/reference/data and expected
  byte-identical to the version recorded in MANIFEST.json (the copy of the team's shared set)?
- test_manifest_lists_exactly_the_files_present: does the manifest name every reference file,
  and only those, so a file added or removed without the manifest fails here?
- test_every_file_has_its_provenance: does every entry say where its numbers come from (the
  source paper; for expected values the R and package versions, the date and the R calls)?
- test_manifest_is_what_the_sync_script_writes: is MANIFEST.json exactly what
  scripts/sync_reference.py derives from the files (no hand edits that drift from them)?
"""

from __future__ import annotations

import hashlib
import importlib.util
import json

import pytest

from conftest import REFERENCE, ROOT

MANIFEST = json.loads((REFERENCE / "MANIFEST.json").read_text(encoding="utf-8"))["files"]
PRESENT = sorted(
    str(p.relative_to(REFERENCE)) for sub in ("data", "expected") for p in (REFERENCE / sub).rglob("*.json")
)


def _sync_script():
    spec = importlib.util.spec_from_file_location("sync_reference", ROOT / "scripts" / "sync_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("relative", sorted(MANIFEST))
def test_every_file_matches_its_checksum(relative: str) -> None:
    path = REFERENCE / relative
    assert path.is_file(), f"{relative} is in MANIFEST.json but not in tests/reference"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == MANIFEST[relative]["sha256"], (
        f"{relative} differs from the version recorded in MANIFEST.json; reference files are never "
        "edited: copy the shared file again with scripts/sync_reference.py"
    )


def test_manifest_lists_exactly_the_files_present() -> None:
    assert PRESENT == sorted(MANIFEST), (
        f"not in the manifest: {sorted(set(PRESENT) - set(MANIFEST))}; "
        f"in the manifest only: {sorted(set(MANIFEST) - set(PRESENT))}"
    )
    # The conformance suites need at least these kinds of files.
    kinds = {relative.split("/")[1] for relative in PRESENT if relative.startswith("expected/")}
    assert {"metasem", "metafor", "osmasem"} <= kinds, kinds


@pytest.mark.parametrize("relative", sorted(MANIFEST))
def test_every_file_has_its_provenance(relative: str) -> None:
    entry = MANIFEST[relative]
    assert entry.get("source"), f"{relative}: no source paper"
    if entry["kind"] == "input data":
        assert entry.get("origin"), f"{relative}: no origin (the R package data set)"
        return
    assert entry.get("input") in MANIFEST, f"{relative}: its input file {entry.get('input')} is not carried"
    produced = entry.get("produced_by", {})
    assert produced.get("R") and any(k in produced for k in ("metaSEM", "metafor")), relative
    assert entry.get("generated"), f"{relative}: no date"
    assert entry.get("calls"), f"{relative}: no R call recorded"


def test_manifest_is_what_the_sync_script_writes() -> None:
    assert _sync_script().build_manifest(REFERENCE)["files"] == MANIFEST
