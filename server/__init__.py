"""The HTTP service: ``POST /run`` executes a plugin from the store in its own isolated instance.

``python -m server`` (or ``wasmedge-py serve``) runs it; ``server.app:make_app()`` is the factory for
gunicorn's aiohttp worker. Layers: ``app`` (HTTP only) -> ``registry`` (validated modules by
name) and ``executor`` (bounded pool running one lifecycle per request) -> ``wasmedge_py``.
"""
