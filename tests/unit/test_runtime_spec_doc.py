"""docs/runtime-spec.md names, row by row, the function that does each step: every one exists."""
import importlib
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "runtime-spec.md"


def named_functions() -> list[str]:
    return sorted(set(re.findall(r"`(pocketbox(?:\.\w+)+)`", DOC.read_text())))


def resolve(dotted: str):
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):  # the longest importable module, then attributes
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(dotted)


def test_every_function_the_page_names_exists():
    names = named_functions()
    assert len(names) > 40
    missing = []
    for dotted in names:
        try:
            assert callable(resolve(dotted))
        except (ImportError, AttributeError, AssertionError):
            missing.append(dotted)
    assert not missing, f"docs/runtime-spec.md names functions that do not exist: {missing}"
