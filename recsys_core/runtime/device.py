"""Pick the torch device once (argument, RECSYS_DEVICE, CUDA, MPS, CPU) and seed everything."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch

from ..config import DEVICES
from ..errors import ConfigError


@dataclass(frozen=True)
class DeviceChoice:
    """The device training runs on, plus a notice when the request could not be honoured."""

    device: torch.device
    requested: str
    notice: str = ""

    @property
    def name(self) -> str:
        if self.device.type == "cuda":
            return f"cuda ({torch.cuda.get_device_name(self.device)})"
        return self.device.type


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(requested: str | None = None) -> DeviceChoice:
    """Resolve 'auto'/'cpu'/'cuda[:n]'/'mps' to an available device; None or 'auto' defer to RECSYS_DEVICE."""
    req = (requested or "auto").strip().lower()
    if req == "auto":  # the config's default defers to the environment (documented override)
        req = (os.environ.get("RECSYS_DEVICE") or "auto").strip().lower()
    base = req.split(":", 1)[0]
    if base not in DEVICES:
        raise ConfigError(
            f"Unknown device {req!r}. Choose one of: {', '.join(DEVICES)} (or cuda:N)."
        )
    if base == "auto":
        if torch.cuda.is_available():
            return DeviceChoice(torch.device("cuda"), req)
        if _mps_available():
            return DeviceChoice(torch.device("mps"), req)
        return DeviceChoice(torch.device("cpu"), req)
    if base == "cuda":
        if torch.cuda.is_available():
            try:
                dev = torch.device(req)
                if dev.index is not None and dev.index >= torch.cuda.device_count():
                    raise ValueError
                return DeviceChoice(dev, req)
            except (RuntimeError, ValueError):
                pass
        return DeviceChoice(
            torch.device("cpu"), req, f"Device {req!r} is not available here; training on the CPU instead."
        )
    if base == "mps" and not _mps_available():
        return DeviceChoice(
            torch.device("cpu"), req, "Apple MPS is not available here; training on the CPU instead."
        )
    return DeviceChoice(torch.device(base), req)


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a CPU generator for reproducible shuffles."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen
