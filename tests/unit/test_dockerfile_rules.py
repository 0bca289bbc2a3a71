"""The Dockerfile's pure rules: the parser, Docker's word lexer ($VAR, quotes) and .dockerignore."""
import pytest

from pocketbox.build import dockerfile as df
from pocketbox.build.ignore import Matcher, read_patterns
from pocketbox.build.words import SubstitutionError, expand, expand_words, split_words


def test_parser_continuations_comments_and_forms():
    d = df.parse("# syntax=docker/dockerfile:1\n\nFROM busybox AS base\n# a comment\nRUN echo a \\\n"
                 "  # inside\n\n  b\nCMD [\"sh\", \"-c\"]\nENV A=1 B=\"x y\"\nENV OLD some value\n"
                 "COPY --chown=1:2 --chmod=600 a b/\nonbuild run echo hi\n")
    kinds = [i.keyword for i in d.instructions]
    assert kinds == ["FROM", "RUN", "CMD", "ENV", "ENV", "COPY", "ONBUILD"]
    assert d.directives == {"syntax": "docker/dockerfile:1"}
    run = d.instructions[1]
    assert run.rest == "echo a   b" and run.json is None and run.line == 5
    assert d.instructions[2].json == ["sh", "-c"]
    assert d.instructions[3].pairs == [("A", "1"), ("B", '"x y"')]
    assert d.instructions[4].pairs == [("OLD", "some value")]
    assert d.instructions[5].flags == {"chown": "1:2", "chmod": "600"} and d.instructions[5].rest == "a b/"


def test_parser_escape_directive_and_errors():
    d = df.parse("# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo\n")
    assert d.escape == "`" and d.instructions[1].rest == "dir c:\\   && echo"
    with pytest.raises(df.DockerfileError, match="line 2: unknown instruction: FOO"):
        df.parse("FROM x\nfoo bar\n")
    with pytest.raises(df.DockerfileError, match="Syntax error - can't find = in \"b\""):
        df.parse("FROM x\nENV a=1 b\n")
    with pytest.raises(df.DockerfileError, match="SHELL requires the arguments to be in JSON form"):
        df.parse("FROM x\nSHELL /bin/bash -c\n")
    with pytest.raises(df.DockerfileError, match="Unknown flag: bogus"):
        df.parse("FROM x\nCOPY --bogus=1 a b\n")


def test_substitution_as_docker():
    env = {"A": "a", "EMPTY": "", "SP": "x y"}
    assert expand("$A${A}_${A}", env) == "aa_a"
    assert expand("${MISSING:-def} ${EMPTY:-def} ${EMPTY-def} ${A:+alt} ${MISSING:+alt}", env) == "def def  alt "
    assert expand("'$A' \"$A\" \\$A", env) == "$A a $A"
    assert expand('"a \\" b \\x"', env) == 'a " b \\x'
    assert expand("$1 $ end", env) == " $ end"
    assert expand_words("p $SP \"q r\"", env) == ["p", "x", "y", "q r"]
    with pytest.raises(SubstitutionError, match="bad substitution"):
        expand("${}", env)
    with pytest.raises(SubstitutionError, match="missing '}'"):
        expand("${A", env)
    with pytest.raises(SubstitutionError, match="MISSING: needed"):
        expand("${MISSING:?needed}", env)


def test_parser_words_keep_quotes():
    assert split_words('a=1 b="x y" c=\'z w\' d=e\\ f') == ["a=1", 'b="x y"', "c='z w'", "d=e\\ f"]


@pytest.mark.parametrize("patterns, path, excluded", [
    (["*.md"], "README.md", True),
    (["*.md"], "docs/a.md", False),
    (["**/*.md"], "docs/deep/a.md", True),
    (["docs"], "docs/deep/a.md", True),                      # a parent directory matches
    (["docs", "!docs/keep.md"], "docs/keep.md", False),
    (["docs", "!docs/keep.md"], "docs/other.md", True),
    (["*", "!src"], "src/main.c", False),
    (["/abs/path"], "abs/path", True),
    (["a?c"], "abc", True),
    (["a?c"], "a/c", False),
    (["[a-c]x"], "bx", True),
    (["# comment"], "# comment", False),
])
def test_dockerignore(patterns, path, excluded):
    assert Matcher(read_patterns("\n".join(patterns))).excluded(path) is excluded
