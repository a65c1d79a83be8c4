"""The HTTP service: ``POST /run`` executes a plugin from the store in its own isolated instance.

``python -m server`` (or ``wasmedge-py serve``) runs it; ``server.app:make_app()`` is the factory for
gunicorn's aiohttp worker. Layers: ``app`` (handlers) -> ``registry`` (validated modules by name)
-> ``runner`` (one request through ``wasmedge_py.run_plugin``, on the bounded ``pool``) ->
``wasmedge_py``; ``errors`` and ``metrics`` (middleware) answer every failure with its status.
"""
