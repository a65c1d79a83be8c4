"""Build script for the cffi API-mode extension ``wasmedge_py._wasmedge_cffi``.

Run by ``pip install`` (``cffi_modules`` in setup.py); needs a C compiler, Python's headers and
WasmEdge's (``libwasmedge-dev``). The declarations and the C source come from ``_ffi.py``, the one
place that knows C: this file only hands them to cffi. ``_ffi.py`` is run by path under a name that
skips loading the library, so building never imports the package.
"""

from __future__ import annotations

import os
import runpy

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
_declared = runpy.run_path(os.path.join(HERE, "_ffi.py"), run_name="__wasmedge_py_build__")

ffibuilder = FFI()
ffibuilder.cdef(_declared["CDEF"] + _declared["API_CDEF"])
ffibuilder.set_source(
    "wasmedge_py._wasmedge_cffi",
    _declared["API_SOURCE"] + f"\n#define WPY_FINGERPRINT {_declared['source_fingerprint']()}ULL\n",
    libraries=["wasmedge"],
)
