"""Only here because setuptools reads cffi_modules from setup(); everything else is in pyproject.toml."""
from setuptools import setup

setup(cffi_modules=["csrc/build_sys.py:ffibuilder"])
