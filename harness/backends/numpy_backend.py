"""NumPy: the host baseline every other backend is compared with."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..dtypes import storage_dtype
from .base import Backend, Device


class NumpyDevice(Device):
    backend = "numpy"
    name = "cpu"
    kind = "cpu"

    def to_device(self, host: np.ndarray, dtype: str) -> np.ndarray:
        # NumPy computes on the host arrays themselves: no copy, so no transfer cost.
        # Read-only, so an implementation that writes into its inputs fails loudly
        # instead of corrupting the next timing sample.
        a = np.asarray(host)
        view = a.view()
        view.flags.writeable = False
        return view

    def to_host(self, arr: Any) -> np.ndarray:
        return np.asarray(arr)

    def scalar(self, value: Any, dtype: str) -> Any:
        if isinstance(value, float):
            return storage_dtype(dtype).type(value)
        return value

    def synchronize(self, outputs=None) -> None:
        pass

    def dtype_unsupported(self, dtype: str) -> str | None:
        if dtype == "bfloat16":
            return "NumPy has no bfloat16 dtype"
        return None

    @property
    def xp(self):
        import array_api_compat.numpy as xp

        return xp

    def threads(self) -> dict[str, Any]:
        from threadpoolctl import threadpool_info

        return {f"{i['internal_api']}_threads": i["num_threads"] for i in threadpool_info()}

    def metadata(self) -> dict[str, Any]:
        from threadpoolctl import threadpool_info

        md = super().metadata()
        md["numpy"] = np.__version__
        md["blas"] = [
            {k: i.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
            for i in threadpool_info() if i.get("user_api") == "blas"
        ]
        return md


class NumpyBackend(Backend):
    name = "numpy"
    description = "NumPy on the host CPU (the baseline)"

    def _load(self):
        return [NumpyDevice()]

    def versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}
