"""Only what pyproject.toml cannot say: the cffi API-mode extension, compiled at install time.

Metadata and everything else are in pyproject.toml. Building needs a C compiler, Python's headers
and libwasmedge-dev (``make setup`` installs them); see wasmedge_py/_native_build.py.
"""

from setuptools import setup

setup(cffi_modules=["wasmedge_py/_native_build.py:ffibuilder"])
