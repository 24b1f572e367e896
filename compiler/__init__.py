"""The econdsl compiler: checked model → IR (``lower``) → optimised IR (``optimize``) → backends.

Installed as ``econdsl.compiler``. ``ir.py`` states the IR contract; ``backends/__init__.py`` the
backend interface.
"""
