#!/usr/bin/env python3
"""Prints the graph of `use crate::...` imports between a crate's modules and fails on a
cycle. Usage: scripts/module-graph.py crates/runner [crates/cli ...]

A module is a file of src/ (lib.rs or main.rs is the root, `crate`). An edge A -> B means
that A names `crate::B` (in a `use` or a path) or, from a module's own submodule,
`super::`. Good enough for flat crates; it reads text, not the compiler's view.
"""
import re
import sys
from pathlib import Path


def modules(src: Path) -> dict[str, str]:
    found = {}
    for f in sorted(src.rglob("*.rs")):
        rel = f.relative_to(src).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "mod":
            parts = parts[:-1]
        if parts in (["lib"], ["main"]):
            continue
        found["::".join(parts)] = f.read_text()
    return found


def strip_tests(text: str) -> str:
    # Unit tests inside a module may import anything; they are not part of the graph.
    cut = re.search(r"#\[cfg\(test\)\]\s*mod tests", text)
    return text[: cut.start()] if cut else text


def edges(mods: dict[str, str]) -> set[tuple[str, str]]:
    out = set()
    names = sorted(mods, key=len, reverse=True)
    for name, text in mods.items():
        text = strip_tests(text)
        for m in re.finditer(r"crate::((?:\w+::)*\w+)", text):
            path = m.group(1)
            target = next((n for n in names if path == n or path.startswith(n + "::")), None)
            if target and target != name and not name.startswith(target + "::"):
                out.add((name, target))
        for m in re.finditer(r"\buse crate::\{([^}]*)\}", text):
            for item in m.group(1).split(","):
                item = item.strip().split("::")[0]
                if item in mods and item != name:
                    out.add((name, item))
    return out


def cycle(nodes, graph):
    state = {}

    def visit(n, stack):
        state[n] = 1
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m, stack + [m])
                if found:
                    return found
        state[n] = 2
        return None

    for n in sorted(nodes):
        if n not in state:
            found = visit(n, [n])
            if found:
                return found
    return None


def main() -> int:
    status = 0
    for crate in sys.argv[1:]:
        mods = modules(Path(crate) / "src")
        graph: dict[str, set[str]] = {}
        for a, b in sorted(edges(mods)):
            graph.setdefault(a, set()).add(b)
        print(f"{crate}:")
        for a in sorted(mods):
            print(f"  {a} -> {', '.join(sorted(graph.get(a, ()))) or '(nothing)'}")
        found = cycle(mods, graph)
        if found:
            print(f"  CYCLE: {' -> '.join(found)}")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
