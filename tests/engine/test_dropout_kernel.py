"""The compiled dropout (+ ReLU) the entity net trains with on the CPU: rate, scale, gradients, reproducibility."""

from __future__ import annotations

import pytest
import torch

from recsys_core.models.dropout_kernel import fused_dropout, usable


@pytest.mark.parametrize("p", [0.5, 0.4, 0.25])
def test_dropout_keeps_rate_and_mean_with_independent_positions(p):
    torch.manual_seed(0)
    x = torch.ones(1000, 333)
    out = fused_dropout(x, p)
    assert float((out == 0).float().mean()) == pytest.approx(p, abs=0.01)
    assert float(out.mean()) == pytest.approx(1.0, abs=0.02)  # kept elements rescaled by 1 / (1 - p)
    assert float(out.max()) == pytest.approx(1 / (1 - p), rel=1e-6)
    cols, rows = (out == 0).float().mean(0), (out == 0).float().mean(1)  # no stuck lanes or rows
    assert float(cols.min()) > p - 0.1 and float(cols.max()) < p + 0.1
    assert float(rows.min()) > p - 0.1 and float(rows.max()) < p + 0.1


def test_relu_dropout_zeroes_negatives_and_drops_the_rest_at_rate_p():
    torch.manual_seed(1)
    x = torch.rand(2000, 150) * 2 - 1
    out = fused_dropout(x, 0.4, relu=True)
    assert torch.all(out[x <= 0] == 0)
    pos = x > 0
    kept = out[pos] != 0
    assert float(kept.float().mean()) == pytest.approx(0.6, abs=0.01)
    assert torch.allclose(out[pos][kept], x[pos][kept] / 0.6, rtol=1e-6)


@pytest.mark.parametrize("relu", [False, True])
def test_gradient_flows_exactly_through_the_kept_elements(relu):
    torch.manual_seed(2)
    x = (torch.rand(300, 77) * 2 - 1).requires_grad_(True)
    w = torch.randn(300, 77)
    out = fused_dropout(x, 0.3, relu=relu)
    (out * w).sum().backward()
    kept = out.detach() != 0  # x is never exactly 0, so a zero output means dropped (or negative before a ReLU)
    expected = torch.where(kept, w / 0.7, torch.zeros_like(w))
    assert torch.allclose(x.grad, expected, rtol=1e-5, atol=0)


def test_the_same_seed_gives_the_same_masks_and_another_seed_others():
    x = torch.ones(64, 128)
    torch.manual_seed(5)
    a = fused_dropout(x, 0.5)
    torch.manual_seed(5)
    b = fused_dropout(x, 0.5)
    c = fused_dropout(x, 0.5)  # the generator moved on: a fresh mask
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_rate_zero_is_the_identity_and_bad_rates_are_refused():
    x = torch.randn(10, 5)
    assert torch.equal(fused_dropout(x, 0.0), x)
    assert torch.equal(fused_dropout(x, 0.0, relu=True), torch.relu(x))
    for bad in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError):
            fused_dropout(x, bad)
    assert usable(x) and not usable(x.double())


def test_entity_net_trains_through_the_compiled_pass_on_the_cpu(monkeypatch):
    from recsys_core.models import dropout_kernel
    from recsys_core.models.rating_nets import EntityNet

    calls = []
    real = dropout_kernel.fused_dropout
    monkeypatch.setattr(dropout_kernel, "fused_dropout",
                        lambda x, p, relu=False: calls.append(relu) or real(x, p, relu))
    net = EntityNet(20, 30, 8, 0.5, 5.0)
    u, m = torch.randint(0, 20, (64,)), torch.randint(0, 30, (64,))
    net.train()
    net(u, m).sum().backward()
    assert calls == [False, True, True]
    assert net.fc1.weight.grad is not None and net.user.weight.grad is not None
    calls.clear()
    net.eval()
    with torch.no_grad():
        a, b = net(u, m), net(u, m)
    assert calls == [] and torch.equal(a, b)  # no dropout when predicting
