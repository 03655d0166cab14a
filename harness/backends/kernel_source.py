"""The text handed to a device compiler for a kernel file of harness/kernels/.

A kernel file may `#include "name"` another file of harness/kernels/, named relative to
the including file: `"_reductions.cl"` beside an OpenCL kernel, `"../shared/nbody.h"` for
device code shared by the OpenCL C and CUDA sources. `expand` splices each such file into
the text, so that what the compiler gets is the whole program:

- the compiler's own include path is not used: OpenCL drivers resolve it differently,
  and both pyopencl's binary cache and CuPy's kernel cache key on the text they are given,
  so an edited header behind an include would not be rebuilt;
- `#line` directives keep compiler messages pointing at each file's own lines;
- each file is spliced at its first include only (as if it had `#pragma once`), which
  also makes include cycles harmless;
- `#include <...>` and includes of files outside harness/kernels/ are left to the compiler.

A backend keys its built programs on the spliced text, which it gets from a SourceCache:
that re-reads a kernel file's text when one of its files changed on disk (looked at with
os.stat, at most every `recheck_s` seconds, so a cache hit stays a dictionary lookup), so
an edited header gives a new program and never a stale one.
"""
from __future__ import annotations

import os
import posixpath
import re
import time
from dataclasses import dataclass
from typing import Any, Callable

#: `#include "name"` on a line of its own.
_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]+"([^"]+)"[ \t]*$', re.M)


class KernelSourceError(FileNotFoundError):
    """An include of a kernel file names a file that is not there."""


def kernels_root() -> Any:
    """harness/kernels/ as an importlib resource (a Path for an installed package)."""
    from importlib.resources import files

    return files("harness.kernels")


def _resource(root: Any, rel: str) -> Any:
    node = root
    for part in rel.split("/"):
        node = node / part
    return node


def _on_disk(node: Any) -> str | None:
    """The file's path for os.stat (None for a resource that is not a file: a zip)."""
    try:
        return os.fspath(node)
    except TypeError:
        return None


def _stamp(path: str | None) -> tuple | None:
    """What changes when the file is edited (None where it cannot be told)."""
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


@dataclass(frozen=True)
class Source:
    """A kernel file with its includes spliced in: `text`, the files it was made of (paths
    relative to harness/kernels/), where they are on disk and their stamps then."""

    text: str
    files: tuple[str, ...]
    paths: tuple[str | None, ...]
    stamps: tuple

    def stale(self) -> bool:
        """Whether a file of this text changed on disk since (an os.stat per file)."""
        for path, stamp in zip(self.paths, self.stamps):
            if _stamp(path) != stamp:
                return True
        return False

    def __add__(self, other: "Source") -> "Source":
        """This text followed by `other`'s (the OpenCL prelude, then the kernel file)."""
        return Source(self.text + other.text, self.files + other.files, self.paths + other.paths,
                      self.stamps + other.stamps)


def expand(rel: str, root: Any = None) -> Source:
    """The text of harness/kernels/<rel> (e.g. "cl/dot.cl", "cuda/nbody.cu") with every
    `#include "x"` of a file of harness/kernels/ replaced by that file's text, recursively.

    A missing file raises KernelSourceError naming the including file, its line and the
    path looked for."""
    root = kernels_root() if root is None else root
    done: list[str] = []

    def splice(name: str, origin: str | None) -> str:
        node = _resource(root, name)
        try:
            text = node.read_text()
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise KernelSourceError(f"{origin or name}: no such kernel file harness/kernels/{name}") from exc
        done.append(name)
        here = posixpath.dirname(name)

        def include(match: re.Match) -> str:
            target = posixpath.normpath(posixpath.join(here, match.group(1)))
            if target.startswith("../") or target == ".." or posixpath.isabs(match.group(1)):
                return match.group(0)  # outside harness/kernels/: the compiler's business
            line = text.count("\n", 0, match.start()) + 1
            where = f'{name}:{line}: #include "{match.group(1)}"'
            if target in done:
                body = ""
            else:
                body = f'#line 1 "{target}"\n' + splice(target, where) + "\n"
            return body + f'#line {line + 1} "{name}"'

        return _INCLUDE.sub(include, text)

    text = splice(rel, None)
    paths = tuple(_on_disk(_resource(root, f)) for f in done)
    return Source(text=text, files=tuple(done), paths=paths, stamps=tuple(_stamp(p) for p in paths))


class SourceCache:
    """Spliced texts by kernel file name: `make(name)` gives a Source, made again when one
    of its files changed (checked at most every `recheck_s` seconds per name)."""

    def __init__(self, make: Callable[[str], Source], recheck_s: float = 0.5) -> None:
        self.make = make
        self.recheck_s = recheck_s
        self._sources: dict[str, tuple[Source, float]] = {}

    def text(self, name: str) -> str:
        now = time.monotonic()
        entry = self._sources.get(name)
        if entry is not None and now - entry[1] < self.recheck_s:
            return entry[0].text
        if entry is None or entry[0].stale():
            source = self.make(name)
        else:
            source = entry[0]
        self._sources[name] = (source, now)
        return source.text
