"""jsonlite reads and writes what the json package does, for what pocketbox stores."""
import json
import random

import pytest

from pocketbox import jsonlite


def random_value(rng: random.Random, depth: int = 0):
    kinds = ["int", "float", "str", "bool", "none"] + (["list", "dict"] if depth < 4 else [])
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.randint(-2**63, 2**64)
    if kind == "float":
        return rng.uniform(-1e9, 1e9)
    if kind == "str":
        return "".join(rng.choice("ab\"\\/\n\té€𝄞 ") for _ in range(rng.randint(0, 8)))
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "none":
        return None
    if kind == "list":
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {f"k{rng.randint(0, 9)}{rng.choice('xé')}": random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def test_same_text_and_values_as_the_json_package():
    rng = random.Random(7)
    for _ in range(2000):
        value = random_value(rng)
        assert jsonlite.dumps(value) == json.dumps(value)
        assert jsonlite.dumps(value, sort_keys=True) == json.dumps(value, sort_keys=True)
        assert jsonlite.loads(json.dumps(value)) == json.loads(json.dumps(value))
        assert jsonlite.loads(json.dumps(value, indent=2).encode()) == value


@pytest.mark.parametrize("text", ["", "{", "[1,]", "1 2", "nul", '{"a" 1}', '"unterminated', "[1] x"])
def test_bad_json_is_a_value_error(text):
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        jsonlite.loads(text)
