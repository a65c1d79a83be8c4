"""The plugin runtime's exceptions (``plugin``, ``runtime``, ``limits``, ``files``): what a plugin
or a request to it did wrong, as opposed to the engine and binding errors in ``errors``."""

from __future__ import annotations

from .errors import ClosedError, WasmEdgeError


class PluginError(WasmEdgeError):
    """A plugin broke the plugin contract or reported an error."""


class PluginLoadError(PluginError):
    """A plugin could not be loaded, validated or instantiated; ``__cause__`` holds the engine error."""


class PluginABIError(PluginLoadError):
    """The plugin's exports or ABI version do not match what this host supports."""


class PluginCodeError(PluginError):
    """A plugin function returned a negative error code (``code``, named ``code_name``)."""

    def __init__(self, message: str, code: int, code_name: str) -> None:
        super().__init__(message)
        self.code = code
        self.code_name = code_name


class PluginClosedError(PluginError, ClosedError):
    """The plugin was used after ``close()``."""


class PluginOutputError(PluginError):
    """A v2 plugin's output is not what was asked for (e.g. not JSON from ``call_json``)."""


class PluginInputError(PluginError, ValueError):
    """A request's input does not fit the plugin's ABI (v1: a 32-bit signed integer; v2: JSON
    text or bytes). Raised before the plugin is called, if possible before it is instantiated."""


# What failed, by lifecycle step, in the words clients of the service see.
STEP_FAILURES = {
    "load": "failed to load plugin",
    "initialize": "failed to initialize plugin",
    "execute": "failed to execute plugin",
    "cleanup": "failed to clean up plugin",
}


class PluginStepError(PluginError):
    """A step of one isolated run failed: ``step`` is one of ``STEP_FAILURES``, ``cause`` (also
    ``__cause__``) is the error the step raised."""

    def __init__(self, step: str, cause: WasmEdgeError) -> None:
        super().__init__(f"{STEP_FAILURES[step]}: {cause}")
        self.step = step
        self.cause = cause
