"""Docker's Dockerfile word rules, as the classic builder applies them.

split_words: how the parser cuts `ENV a=1 b="x y"` into words (quotes and escapes kept).
expand / expand_words: the shell-like lexer that removes quotes and substitutes $VAR, ${VAR},
${VAR:-default}, ${VAR:+alternative}, ${VAR:?message} (and their forms without the colon, which
test "set" rather than "non-empty"). There is no command substitution or globbing: a Dockerfile
is not a shell script."""


class SubstitutionError(ValueError):
    pass


def split_words(rest: str, escape: str = "\\") -> list[str]:
    """Words separated by whitespace outside quotes; quotes and escape characters stay in the words."""
    words, word, quote, blank_ok, i = [], "", "", False, 0
    while i < len(rest):
        ch = rest[i]
        if not quote and ch.isspace():
            if blank_ok or word:
                words.append(word)
            word, blank_ok = "", False
            i += 1
            continue
        if quote and ch == quote:
            quote = ""
        elif not quote and ch in "'\"":
            quote, blank_ok = ch, True
        elif ch == escape and quote != "'":  # (nothing is escaped inside single quotes)
            if i + 1 == len(rest):  # an escape character at the very end is dropped
                break
            word += ch
            i += 1
            ch = rest[i]
        word += ch
        i += 1
    if blank_ok or word:
        words.append(word)
    return words


class _Lexer:
    def __init__(self, text: str, env: dict, escape: str):
        self.text, self.pos, self.env, self.escape = text, 0, env, escape

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        self.pos += 1 if ch else 0
        return ch

    def process(self, stop: str = "") -> tuple[str, list[str]]:
        """Until `stop` (or the end): (the word, the words it splits into at unquoted spaces)."""
        result, words, current, have = [], [], [], False

        def end_word():
            nonlocal current, have
            if have or current:
                words.append("".join(current))
            current, have = [], False

        while self.peek():
            ch = self.peek()
            if stop and ch == stop:
                self.next()
                end_word()
                return "".join(result), words
            if ch in ("'", '"', "$"):
                value = self.single_quote() if ch == "'" else self.double_quote() if ch == '"' else self.dollar()
                result.append(value)
                if ch == "$":  # an unquoted substitution splits at its spaces
                    for c in value:
                        if c.isspace():
                            end_word()
                        else:
                            current.append(c)
                else:
                    current.append(value)
                    have = True
                continue
            ch = self.next()
            if ch == self.escape:
                ch = self.next()
                if not ch:
                    break
                current.append(ch)
            elif ch.isspace():
                end_word()
            else:
                current.append(ch)
            result.append(ch)
        if stop:
            raise SubstitutionError(f"unexpected end of statement while looking for matching {stop}")
        end_word()
        return "".join(result), words

    def single_quote(self) -> str:
        self.next()
        out = []
        while True:
            ch = self.next()
            if not ch:
                raise SubstitutionError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        self.next()
        out = []
        while True:
            ch = self.peek()
            if not ch:
                raise SubstitutionError("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.next()
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == self.escape:
                following = self.peek()
                if not following:
                    continue
                if following in ('"', "$", self.escape):  # only these can be escaped inside double quotes
                    ch = self.next()
            out.append(ch)

    def name(self) -> str:
        out = []
        while self.peek():
            ch = self.peek()
            if not out and ch.isdigit():
                while self.peek().isdigit():
                    out.append(self.next())
                return "".join(out)
            if not out and ch in "@*#?-$!":
                return self.next()
            if not (ch.isalnum() or ch == "_"):
                break
            out.append(self.next())
        return "".join(out)

    def dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.name()
            return self.env.get(name, "") if name else "$"
        self.next()
        if not self.peek():
            raise SubstitutionError("syntax error: missing '}'")
        if self.peek() in "{}:":
            raise SubstitutionError("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        if not ch:
            raise SubstitutionError("syntax error: missing '}'")
        if ch == "}":
            return self.env.get(name, "")
        colon = ch == ":"
        modifier = self.next() if colon else ch
        if modifier not in ("-", "+", "?"):
            if not colon:
                raise SubstitutionError("missing ':' in substitution")
            raise SubstitutionError(f"unsupported modifier ({modifier}) in substitution")
        try:
            word, _ = self.process("}")
        except SubstitutionError:
            if not self.peek():
                raise SubstitutionError("syntax error: missing '}'") from None
            raise
        found = name in self.env
        value = self.env.get(name, "")
        is_set = bool(value) if colon else found
        if modifier == "-":
            return value if is_set else word
        if modifier == "+":
            return word if is_set else ""
        if not is_set:
            raise SubstitutionError(f"{name}: {word or 'is not allowed to be unset' if not found else 'is not allowed to be empty'}")
        return value


def expand(word: str, env: dict, escape: str = "\\") -> str:
    """One word with its quotes removed and its variables substituted."""
    return _Lexer(word, env, escape).process()[0]


def expand_words(text: str, env: dict, escape: str = "\\") -> list[str]:
    """Like expand, then split at unquoted whitespace (EXPOSE, VOLUME's list form)."""
    return _Lexer(text, env, escape).process()[1]
