"""cffi build script: compiles csrc/pocketbox_sys.c into the out-of-line API module pocketbox._sys.

setuptools runs it during `pip install .` (see setup.py's cffi_modules)."""
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent

ffibuilder = FFI()
ffibuilder.cdef((HERE / "pocketbox_sys.h").read_text())
ffibuilder.set_source(
    "pocketbox._sys",
    (HERE / "pocketbox_sys.c").read_text(),
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
