"""JSON through the C accelerator (_json) alone: the json package imports `re` (and with it
enum and functools), a visible share of the start-up of a runtime that should take as long as
runc's. Same results as json.loads/json.dumps for what pocketbox reads and writes; anything
fancier (indent, hooks) uses the json package."""
import _json


class _Decoding:
    """What _json's scanner reads from its context (json.JSONDecoder's defaults)."""
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo: dict = {}

    @staticmethod
    def parse_constant(name: str) -> float:
        return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]


_scan = _json.make_scanner(_Decoding())
_encoders = {sort: _json.make_encoder({}, None, _json.encode_basestring_ascii, None, ": ", ", ", sort, False, True)
             for sort in (False, True)}
WHITESPACE = " \t\n\r"


def loads(text: str | bytes) -> object:
    if isinstance(text, (bytes, bytearray)):
        text = text.decode()
    start = len(text) - len(text.lstrip(WHITESPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration as e:
        raise ValueError(f"invalid JSON at character {e.value}") from None
    finally:
        _Decoding.memo.clear()
    if text[end:].strip(WHITESPACE):
        raise ValueError(f"extra data after JSON at character {end}")
    return value


def load(f) -> object:
    return loads(f.read())


def dumps(value: object, sort_keys: bool = False) -> str:
    """json.dumps(value, sort_keys=...) for dicts, lists, strings, numbers, booleans and None."""
    return "".join(_encoders[sort_keys](value, 0))
