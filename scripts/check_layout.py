#!/usr/bin/env python3
"""Layout gate run by scripts/test.sh: no two modules of a crate import each other, and no
source file outside tests is over 600 lines.

Modules are files (`a/b.rs` and `a/b/mod.rs` are `a::b`). A module A imports B when A's
code (comments and inline `#[cfg(test)] mod tests` blocks left out) names a path that
resolves to B through `crate::`, `super::` or `self::`, grouped `use` trees included.
Declaring a child (`mod b;`) is not an import. Exit status 1 lists every offending pair
and file.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAX_LINES = 600
# Generated data and test-only files may be longer.
EXEMPT = re.compile(r"(^|/)(tests?|benches)/|/tests\.rs$|_tests\.rs$|golden_data\.rs$")


def module_of(src: pathlib.Path, path: pathlib.Path) -> tuple:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts.pop()
    return tuple(parts)


def strip(code: str) -> str:
    """Drops comments, string literals and `#[cfg(test)] mod tests { ... }` blocks."""
    code = re.sub(r"//[^\n]*", "", code)
    code = re.sub(r'"(\\.|[^"\\])*"', '""', code)
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", code):
        if m.start() < i:
            continue
        out.append(code[i:m.start()])
        depth, j = 1, m.end()
        while j < len(code) and depth:
            depth += {"{": 1, "}": -1}.get(code[j], 0)
            j += 1
        i = j
    out.append(code[i:])
    return "".join(out)


def paths(code: str):
    """Yields (anchor, segments) for every `crate::`/`super::`/`self::` path, use trees expanded."""
    def tree(s, k, prefix):
        # Parses a use tree at s[k:], yields full segment lists.
        items, seg = [], list(prefix)
        while k < len(s):
            m = re.match(r"\s*(\w+)\s*(::)?", s[k:])
            if s[k:].lstrip().startswith("{"):
                k = s.index("{", k) + 1
                while True:
                    sub, k = tree(s, k, seg)
                    items.extend(sub)
                    rest = s[k:].lstrip()
                    k = len(s) - len(rest)
                    if rest.startswith(","):
                        k += 1
                        continue
                    if rest.startswith("}"):
                        k += 1
                    return items, k
            if not m:
                break
            seg.append(m.group(1))
            k += m.end()
            if not m.group(2):
                break
        items.append(seg)
        return items, k

    for m in re.finditer(r"\b(crate|super|self)((?:\s*::\s*super)*)\s*::\s*", code):
        anchor = [m.group(1)] + ["super"] * m.group(2).count("super")
        items, _ = tree(code, m.end(), [])
        for seg in items:
            yield anchor, seg


def resolve(here: tuple, anchor, seg, modules: set):
    if anchor[0] == "crate":
        base = ()
    else:
        base = here
        ups = anchor.count("super")
        base = base[: len(base) - ups] if ups <= len(base) else ()
    target = base
    for s in seg:
        if base + (s,) in modules or target + (s,) in modules:
            target = target + (s,)
        else:
            break
    return target


def check_crate(src: pathlib.Path, problems: list):
    files = {module_of(src, p): p for p in src.rglob("*.rs") if "bin" not in p.relative_to(src).parts}
    modules = set(files)
    edges = {}
    for mod, path in files.items():
        for anchor, seg in paths(strip(path.read_text())):
            target = resolve(mod, anchor, seg, modules)
            if target != mod:
                edges.setdefault(mod, set()).add(target)
    for a, targets in edges.items():
        for b in targets:
            if a < b and a in edges.get(b, ()):
                name = lambda m: "::".join(m) or "crate root"
                problems.append(f"{src.parent.name}: {name(a)} and {name(b)} import each other")


def main() -> int:
    problems = []
    for src in sorted([ROOT / "src", *ROOT.glob("crates/*/src")]):
        check_crate(src, problems)
    for path in sorted([*ROOT.glob("src/**/*.rs"), *ROOT.glob("crates/*/src/**/*.rs"), *ROOT.glob("examples/**/*.rs")]):
        rel = path.relative_to(ROOT).as_posix()
        n = path.read_text().count("\n")
        if n > MAX_LINES and not EXEMPT.search(rel):
            problems.append(f"{rel}: {n} lines (at most {MAX_LINES} outside tests)")
    for p in problems:
        print(f"check_layout: {p}", file=sys.stderr)
    if not problems:
        print("check_layout: no module pair imports each other; no source file over 600 lines")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
