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

A backend splices a kernel file once per process, when it first builds it: kernel
sources do not change under a running benchmark, and a later process splices the edited
text, which the drivers' and CuPy's caches then see as a new program.
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class Source:
    """A kernel file with its includes spliced in: `text`, and the files it was made of
    (paths relative to harness/kernels/, in splicing order)."""

    text: str
    files: tuple[str, ...]

    def __add__(self, other: "Source") -> "Source":
        """This text followed by `other`'s (the OpenCL prelude, then the kernel file)."""
        return Source(self.text + other.text, self.files + other.files)


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
    return Source(text=text, files=tuple(done))
