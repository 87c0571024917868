"""Bring the project's copy of the reference data up to date and rewrite its manifest.

The conformance tests read only ``tests/reference/`` (the project carries its own proofs). That
folder is a byte-identical copy of the team's shared reference set; this script copies every file
of the shared set that is new or changed, never edits one, and rewrites
``tests/reference/MANIFEST.json``: one entry per file with its sha256 checksum, size, and
provenance read from the file itself (source paper, the R package data set it comes from, the R
and package versions that produced the expected values, the date and the R calls recorded in it).
``tests/test_reference_manifest.py`` fails when a file and the manifest disagree.

Usage (from the project root)::

    python scripts/sync_reference.py --from "$SHARED/reference"   # copy new files, rewrite the manifest
    python scripts/sync_reference.py --check --from "$SHARED/reference"   # report only, exit 1 on a difference
    python scripts/sync_reference.py                              # rewrite the manifest from tests/reference

Only JSON files under ``data/`` and ``expected/`` are copied; the shared README is not (the
project's own ``tests/reference/README.md`` describes the copy).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "tests" / "reference"
MANIFEST = TARGET / "MANIFEST.json"
FOLDERS = ("data", "expected")
CALL_KEYS = ("call", "calls", "r_call")


def reference_files(folder: Path) -> list[str]:
    """Relative paths of the reference JSON files under ``folder``, sorted."""
    return sorted(
        str(p.relative_to(folder)) for sub in FOLDERS for p in (folder / sub).rglob("*.json") if p.is_file()
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _calls(node: object, found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in CALL_KEYS and isinstance(value, str):
                found.add(value)
            else:
                _calls(value, found)
    elif isinstance(node, list):
        for value in node:
            _calls(value, found)


def provenance(relative: str, folder: Path) -> dict:
    """What a reference file says about where it comes from."""
    content = json.loads((folder / relative).read_text(encoding="utf-8"))
    entry: dict = {"kind": "input data" if relative.startswith("data/") else "expected values"}
    if entry["kind"] == "input data":
        entry["source"] = content.get("source")
        entry["origin"] = content.get("origin")
        return entry
    input_name = Path(content.get("input", {}).get("file", "")).name
    entry["input"] = f"data/{input_name}" if input_name else None
    if input_name and (folder / "data" / input_name).exists():
        entry["source"] = json.loads((folder / "data" / input_name).read_text(encoding="utf-8")).get("source")
    versions = content.get("versions", {})
    packages = versions.get("packages", {})
    entry["produced_by"] = {"R": versions.get("R"), **packages}
    entry["generated"] = versions.get("generated")
    found: set[str] = set()
    _calls(content, found)
    entry["calls"] = sorted(found)
    return entry


def build_manifest(folder: Path) -> dict:
    files = {}
    for relative in reference_files(folder):
        path = folder / relative
        files[relative] = {"sha256": sha256(path), "bytes": path.stat().st_size, **provenance(relative, folder)}
    return {
        "about": (
            "Checksums and provenance of the reference files in tests/reference/, a byte-identical copy "
            "of the team's shared reference set. Written by scripts/sync_reference.py; checked by "
            "tests/test_reference_manifest.py. See tests/reference/README.md."
        ),
        "files": files,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, help="the shared reference folder to copy from")
    parser.add_argument("--check", action="store_true", help="only report differences; exit 1 if any")
    args = parser.parse_args(argv)
    differences: list[str] = []
    if args.source is not None:
        source = args.source.resolve()
        if not (source / "data").is_dir():
            print(f"{source} has no data/ folder: not a reference set", file=sys.stderr)
            return 2
        for relative in reference_files(source):
            src, dst = source / relative, TARGET / relative
            if dst.exists() and sha256(dst) == sha256(src):
                continue
            differences.append(f"{'changed' if dst.exists() else 'new'}: {relative}")
            if not args.check:
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
        for relative in reference_files(TARGET):
            if not (source / relative).exists():
                differences.append(f"only in the project: {relative}")
    manifest = build_manifest(TARGET)
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    if not MANIFEST.exists() or MANIFEST.read_text(encoding="utf-8") != text:
        differences.append("MANIFEST.json out of date")
        if not args.check:
            MANIFEST.write_text(text, encoding="utf-8")
    for line in differences:
        print(line)
    print(f"{len(manifest['files'])} reference files; {len(differences)} difference(s)"
          f"{' (nothing written)' if args.check else ''}")
    return 1 if (args.check and differences) else 0


if __name__ == "__main__":
    sys.exit(main())
