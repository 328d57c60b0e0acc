#!/usr/bin/env python3
"""Every message that docs/troubleshooting.md quotes still occurs in the crates' source.

A quoted message is a heading written entirely in code type: "### `message`" (or with double
backticks, "### `` message with `code` ``", when the message itself holds a backtick). `<…>`
marks where the program puts a value; the literal pieces between placeholders must all occur,
in that order, in one source file under crates/*/src, outside its `#[cfg(test)] mod tests`
(a message kept alive only by a test's assertion does not count). Rust string escapes (`\\"`)
and line continuations (a backslash at the end of a line) are undone before matching.
Pieces shorter than 4 characters (": ", "=") are not checked on their own.

usage: check_messages.py [docs/troubleshooting.md]
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEADING = re.compile(r"^###\s+(`+)(.+?)\1\s*$")
PLACEHOLDER = re.compile(r"<[^<>]+>")
MIN_PIECE = 4


def sources() -> dict[Path, str]:
    out = {}
    for path in sorted(ROOT.glob("crates/*/src/**/*.rs")):
        text = path.read_text(encoding="utf-8")
        cut = re.search(r"^#\[cfg\(test\)\]\s*\n\s*mod tests\b", text, re.M)
        if cut:
            text = text[: cut.start()]
        text = re.sub(r"\\\n\s*", "", text)  # string continuation lines
        text = text.replace('\\"', '"').replace("\\\\", "\\")
        out[path] = text
    return out


def quoted(doc: Path) -> list[tuple[int, str]]:
    found = []
    for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
        m = HEADING.match(line)
        if not m:
            continue
        text = m.group(2)
        # CommonMark: one space on each side of a code span is padding.
        if len(text) > 2 and text.startswith(" ") and text.endswith(" "):
            text = text[1:-1]
        found.append((n, text))
    return found


def occurs(pieces: list[str], text: str) -> bool:
    at = 0
    for piece in pieces:
        i = text.find(piece, at)
        if i < 0:
            return False
        at = i + len(piece)
    return True


def main() -> int:
    doc = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "troubleshooting.md"
    messages = quoted(doc)
    if not messages:
        print(f"FAIL {doc.name}: no quoted message (### `message`) found")
        return 1
    src = sources()
    failed = 0
    for line, message in messages:
        pieces = [p for p in PLACEHOLDER.split(message) if len(p.strip()) >= MIN_PIECE]
        if not pieces:
            failed += 1
            print(f"FAIL {doc.name}:{line}: `{message}` has no literal text to look for")
            continue
        # Pieces in order inside one file; when the order differs (a message assembled from
        # parts), all pieces somewhere in one file.
        where = [p for p, t in src.items() if occurs(pieces, t)] or [
            p for p, t in src.items() if all(piece in t for piece in pieces)
        ]
        if where:
            print(f"ok   {doc.name}:{line}: {message[:70]}{'…' if len(message) > 70 else ''}  ({where[0].relative_to(ROOT)})")
        else:
            failed += 1
            missing = [p for p in pieces if not any(p in t for t in src.values())]
            why = f"not in any source file: {missing}" if missing else "its pieces are in different files"
            print(f"FAIL {doc.name}:{line}: `{message}`: {why}")
    print(f"troubleshooting: {len(messages) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
