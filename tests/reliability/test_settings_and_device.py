"""Bad settings are refused before anything is allocated; an unavailable device, running out of memory
or a CUDA error during training fall back (smaller batches, then the CPU) with a notice in the manifest."""

from __future__ import annotations

import math
import time
import tracemalloc
from dataclasses import replace

import pytest
import torch

from recsys_core import Explorer
from recsys_core.config import EngineConfig, FitOptions
from recsys_core.errors import ConfigError, DeviceError
from recsys_core.store import ArtifactStore
from recsys_core.training.loop import FAULT_ENV, FAULTS, MAX_HALVINGS, fit
from tests.reliability.conftest import files_under, tiny_config

BAD = {
    "zero content epochs": ({"content": {"epochs": 0}}, "content epochs must be between 1 and 10000, got 0"),
    "negative content epochs": ({"content": {"epochs": -3}}, "got -3"),
    "zero code dim": ({"content": {"code_dim": 0}}, "code_dim must be between 2 and 2048, got 0"),
    "negative code dim": ({"content": {"code_dim": -8}}, "got -8"),
    "absurd code dim": ({"content": {"code_dim": 10**9}}, "code_dim must be between 2 and 2048, got 1000000000"),
    "absurd hidden dim": ({"content": {"hidden_dim": 10**8}}, "hidden_dim must be between 0 and 16384"),
    "zero batch": ({"content": {"batch_size": 0}}, "batch_size must be between 2"),
    "zero collab dim": ({"collab": {"dim": 0}}, "dim must be a whole number between 1 and 4096, got 0"),
    "absurd collab dim": ({"collab": {"dim": 10**7}}, "between 1 and 4096, got 10000000"),
    "negative rating dim": ({"collab": {"rating_dim": -1}}, "rating_dim must be a whole number"),
    "nan learning rate": ({"content": {"lr": math.nan}}, "learning rate must be a positive number"),
    "unknown device": ({"device": "tpu"}, "Unknown device 'tpu'"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_setting_is_refused_before_anything_is_read_or_allocated(name, tmp_path):
    changes, expected = BAD[name]
    cfg = EngineConfig()
    for part, values in changes.items():
        cfg = replace(cfg, **{part: values}) if part == "device" else \
            replace(cfg, **{part: replace(getattr(cfg, part), **values)})
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as err:
        # a dataset that does not exist: the ConfigError proves the settings were checked first
        Explorer.open(tmp_path / "not-read", cfg, store=ArtifactStore(tmp_path / "art"))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert expected in str(err.value) and "\n" not in str(err.value)
    assert peak < 5 * 2**20 and time.perf_counter() - t0 < 2, "refused before allocating"
    assert not (tmp_path / "art").exists(), "nothing written"


def test_a_model_too_big_for_this_machine_is_refused_before_allocating(tiny_ds, tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_MAX_MODEL_BYTES", str(64 * 1024))  # pretend a machine with 64 kB to spare
    root = tmp_path / "art"
    with pytest.raises(ConfigError, match=r"autoencoder would need about .* GiB .*Lower code_dim / hidden_dim"):
        Explorer.open(tiny_ds, tiny_config(hidden_dim=4096, code_dim=512), store=ArtifactStore(root))
    assert not [p for p in files_under(root) if not p.endswith(".lock")], "no artifact, no temp folder left"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the request is honoured")
def test_an_unavailable_device_falls_back_to_the_cpu_with_a_notice(tiny_ds, tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_DEVICE", "cuda")
    store = ArtifactStore(tmp_path / "art")
    seen: list[str] = []
    ex = Explorer.open(tiny_ds, tiny_config(), store=store, progress=lambda ev: seen.append(ev.message))
    expected = "Device 'cuda' is not available here; training on the CPU instead."
    assert expected in ex.notices and expected in seen
    assert ex.manifest["notices"] == [expected] and ex.manifest["device"] == "cpu"
    assert ex.manifest["device_requested"] == "cuda"
    again = Explorer.open(tiny_ds, tiny_config(), store=store, train=False)  # from the cache
    assert expected in again.notices


# --- out of memory / CUDA errors: a real training loop, a model that really raises ---------------------


class FlakyNet(torch.nn.Module):
    """A linear regressor whose forward raises like CUDA does on its first ``fail`` calls."""

    def __init__(self, fail: int, kind: str = "oom") -> None:
        super().__init__()
        self.lin = torch.nn.Linear(4, 1)
        self.fail, self.kind, self.batches = fail, kind, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fail > 0:
            self.fail -= 1
            if self.kind == "oom":
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB")
            raise torch.AcceleratorError("CUDA error: an illegal memory access was encountered")
        self.batches.append(len(x))
        return self.lin(x).squeeze(1)


def _train(model: FlakyNet, batch: int = 64, notices: list | None = None):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(256, 4, generator=gen)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0])
    loss = lambda idx: torch.nn.functional.mse_loss(model(x[idx]), y[idx])  # noqa: E731
    val = lambda: float(torch.nn.functional.mse_loss(model(x), y))  # noqa: E731
    opts = FitOptions(epochs=30, batch_size=batch, lr=5e-2, patience=0)
    return fit(model, len(x), loss, val, opts, torch.device("cpu"), gen, on_notice=None if notices is None else notices.append)


def test_out_of_memory_retries_the_epoch_with_smaller_batches():
    notices: list[str] = []
    model = FlakyNet(fail=2)
    hist = _train(model, batch=64, notices=notices)
    assert notices == ["Out of memory on cpu with batches of 64; retrying epoch 1 with batches of 32.",
                       "Out of memory on cpu with batches of 32; retrying epoch 1 with batches of 16."]
    assert hist.notices == notices and hist.batch_size == 16 and {b for b in model.batches if b != 256} == {16}  # 256 = validation
    assert len(hist.train) == 30 and hist.val[-1] < 0.05 * hist.val[0], "it still trained"
    assert hist.as_dict()["notices"] == notices


def test_out_of_memory_at_every_size_tells_the_caller_to_use_the_cpu():
    with pytest.raises(DeviceError) as err:
        _train(FlakyNet(fail=10**6), batch=64)
    assert err.value.reason == "out of memory" and err.value.batch_size == 64 // 2**MAX_HALVINGS


def test_a_cuda_error_is_not_retried_on_the_same_device():
    model = FlakyNet(fail=1, kind="cuda")
    with pytest.raises(DeviceError, match="illegal memory access") as err:
        _train(model)
    assert err.value.reason == "device error" and model.batches == []


@pytest.fixture
def inject(monkeypatch):
    def set_(spec: str) -> None:
        monkeypatch.setenv(FAULT_ENV, spec)
        FAULTS.reset()

    yield set_
    monkeypatch.delenv(FAULT_ENV, raising=False)
    FAULTS.reset()


def test_training_runs_out_of_memory_then_finishes_on_the_cpu(tiny_ds, tmp_path, inject):
    # The first 4 batches raise torch.OutOfMemoryError inside the real loop: 16 -> 8 -> 4 -> 2 all fail,
    # the content stage gives up on the device and is trained again on the CPU, where it succeeds.
    inject(f"oom:{MAX_HALVINGS + 1}")
    ex = Explorer.open(tiny_ds, tiny_config(batch_size=16), store=ArtifactStore(tmp_path / "art"))
    halvings = [n for n in ex.notices if n.startswith("Out of memory on cpu with batches of")]
    assert len(halvings) == MAX_HALVINGS
    assert "Training the content model failed on cpu (out of memory, even with batches of 2); retrying it on " \
           "the CPU with fresh memory." in ex.notices
    assert ex.manifest["notices"] == list(ex.notices)
    assert ex.store.verify(ex.artifact.path)[0] is not None and len(ex.similar(0, k=5).hybrid) == 5


def test_a_cuda_error_during_training_moves_the_rest_to_the_cpu(tiny_ds, tmp_path, inject):
    inject("cuda:1")
    ex = Explorer.open(tiny_ds, tiny_config(), store=ArtifactStore(tmp_path / "art"))
    assert any(n.startswith("Training the content model failed on cpu (device error") for n in ex.notices)
    assert ex.manifest["device"] == "cpu" and len(ex.similar(0, k=5).hybrid) == 5
