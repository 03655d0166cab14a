"""The device-transfer stage: a case's host inputs onto its device, and outputs back.

Each transfer is one synchronised call timed on its own with the device timer
(`timing.time_transfer`), apart from the kernel calls: the kernel's time
(`time_median_s`) never includes moving data, and the record keeps what moving it
costs (`h2d_s`, `d2h_s`, `transfer_s`). How arrays move is the backend's business
(`Device.inputs_to_device`, `Device.outputs_to_host`); nothing here is backend-specific.
"""
from __future__ import annotations

from typing import Any

from .backends.base import Device
from .spec import HostInputs
from .timing import time_transfer


def to_device(device: Device, inputs: HostInputs, dtype: str) -> tuple[dict[str, Any], float]:
    """The device stage: (the inputs as the device's arrays, seconds the upload took).

    Every implementation of a case gets copies of the same host inputs, so that one
    implementation writing into its inputs cannot change what the next one sees."""
    return time_transfer(lambda: device.inputs_to_device(inputs.values, dtype), device)


def to_host(device: Device, outputs: Any) -> tuple[Any, float]:
    """Outputs back to host numpy arrays, and the seconds the download took: outputs are
    judged on the host, by the same code for every backend."""
    return time_transfer(lambda: device.outputs_to_host(outputs), device)
