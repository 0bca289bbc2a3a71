"""`.dockerignore`: which files of the build context a build may not see, with Docker's rules.

Each line is a pattern (Go filepath.Match, plus `**` for any number of directories), relative to
the context root; `#` lines are comments; `!` makes an exception. The last pattern that matches
a path, or one of its parent directories, decides."""
import posixpath
import re

_ESCAPED = set(".+()|{}$^")


def read_patterns(text: str) -> list[str]:
    patterns = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        invert = line.startswith("!")
        if invert:
            line = line[1:].strip()
        if line:
            line = posixpath.normpath(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:].lstrip("/") or "/"
        patterns.append(("!" if invert else "") + line)
    return patterns


def _regex(pattern: str) -> re.Pattern:
    out, i = "^", 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < len(pattern) and pattern[i] == "*":
                i += 1
                if i < len(pattern) and pattern[i] == "/":
                    i += 1
                out += ".*" if i == len(pattern) else "(.*/)?"
            else:
                out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch in _ESCAPED:
            out += "\\" + ch
        elif ch == "\\":
            if i < len(pattern):
                out += re.escape(pattern[i])
                i += 1
            else:
                out += "\\\\"
        elif ch == "[":
            end = pattern.find("]", i)
            if end < 0:
                raise ValueError(f"syntax error in pattern: {pattern}")
            body = pattern[i:end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out += "[" + body + "]"
            i = end + 1
        else:
            out += re.escape(ch)
    return re.compile(out + "$", re.S)


class Matcher:
    def __init__(self, patterns: list[str]):
        self.rules = []
        for p in patterns:
            exclusion = p.startswith("!")
            body = p[1:] if exclusion else p
            if not body:
                raise ValueError('illegal exclusion pattern: "!"')
            self.rules.append((exclusion, _regex(body)))
        self.has_exceptions = any(exclusion for exclusion, _ in self.rules)

    def excluded(self, rel: str) -> bool:
        """Whether the context path `rel` ("a/b/c", no leading slash) is ignored."""
        if not self.rules or rel in ("", "."):
            return False
        parts = rel.split("/")
        prefixes = ["/".join(parts[:i + 1]) for i in range(len(parts) - 1)]
        matched = False
        for exclusion, rx in self.rules:
            if exclusion != matched:
                continue
            hit = bool(rx.match(rel)) or any(rx.match(p) for p in prefixes)
            if hit:
                matched = not exclusion
        return matched

    def may_hold_exceptions(self, rel_dir: str) -> bool:
        """An ignored directory is still walked when an exception may name something below it."""
        return self.has_exceptions
