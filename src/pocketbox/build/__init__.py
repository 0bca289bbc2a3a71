"""`build`: images from a Dockerfile, with the classic (non-BuildKit) builder's semantics.

words.py (Docker's shell-word lexer: quotes and $VAR substitution), dockerfile.py (the parser),
ignore.py (.dockerignore), context.py (the files a build may copy), filesystem.py (a step that
changes files: an overlay on the image so far whose upper dir becomes the layer) and builder.py
(the steps, the cache, the output). The builder is a client of the engine: RUN is a container
the engine makes, and every layer is written by the code `commit` uses."""
