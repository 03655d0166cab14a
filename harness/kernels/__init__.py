"""The built-in kernel suite: one module per kernel, each declaring its spec and its
implementations with the registry. Every module here whose name does not start with
an underscore is imported, so adding a kernel touches no other file. Kernel modules
import only NumPy at module level (backend libraries come through the device)."""
import importlib
import pkgutil

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
    importlib.import_module(f"{__name__}.{_mod}")
