"""Model families, one module each. Importing this package registers every entry.

A new family is one new module here (plus its config and test file); it is found automatically.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
