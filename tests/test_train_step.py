"""The training step (uvb_lab/training/train_step.py): exact in fp32, close in bf16, the same when compiled."""

import copy

import pytest
import torch
from hydra.utils import instantiate

from conftest import MODELS, QUICK, TINY, compose_config
from uvb_lab.config import ConfigError
from uvb_lab.train import train
from uvb_lab.training.train_step import adam, cpu_flags, make_train_step, resolve_precision

# bf16 rounds every matmul/conv input to 8 significant bits (relative error up to 2^-9 = 0.2%). After 20 Adam
# steps at lr 1e-3 the measured gap of the loss was 1.5e-4 (UVB) and 1e-5 (DEEN) relative (tiny widths, CPU).
BF16_RELATIVE_TOLERANCE = 5e-3


def tiny(model: str):
    """A tiny model of the real config, its loss, and synthetic images (1 x 16 x 16)."""
    cfg = compose_config([f"model={model}", *TINY[model], "data=synthetic", "logger=none", "sigma=0.5"])
    torch.manual_seed(0)
    return instantiate(cfg.model), instantiate(cfg.loss), instantiate(cfg.data).train[:32], float(cfg.sigma)


def run_steps(step, x: torch.Tensor, sigma: float, n: int) -> list[float]:
    """n steps on the same batch with noise (and z draws) from seed k at step k: runs compare draw for draw."""
    losses = []
    for k in range(n):
        torch.manual_seed(k)
        y = x + sigma * torch.randn_like(x)
        loss, _finite = step(x, y)
        losses.append(float(loss))
    return losses


@pytest.mark.parametrize("model_name", MODELS)
def test_fp32_step_equals_the_plain_eager_step(model_name):
    model, loss_fn, x, sigma = tiny(model_name)
    plain_model = copy.deepcopy(model)
    plain_optimizer = torch.optim.Adam(plain_model.parameters(), lr=1e-3)

    def plain_step(x, y):  # the plain eager step: loss, zero_grad, backward, Adam
        loss = loss_fn(plain_model, x, y)
        plain_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        plain_optimizer.step()
        return loss.detach(), torch.isfinite(loss)

    step = make_train_step(model, loss_fn, adam(model.parameters(), 1e-3, torch.device("cpu")), "fp32")
    assert run_steps(step, x, sigma, 3) == pytest.approx(run_steps(plain_step, x, sigma, 3), rel=1e-6)
    for ours, plain in zip(model.parameters(), plain_model.parameters()):
        torch.testing.assert_close(ours, plain, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("model_name", ["uvb", "deen"])
def test_bf16_loss_after_n_steps_agrees_with_fp32(model_name):
    model, loss_fn, x, sigma = tiny(model_name)
    losses = {}
    for precision in ("fp32", "bf16"):
        m = copy.deepcopy(model)
        step = make_train_step(m, loss_fn, adam(m.parameters(), 1e-3, torch.device("cpu")), precision)
        losses[precision] = run_steps(step, x, sigma, 20)
    assert losses["fp32"][-1] < losses["fp32"][0]  # it learns, so the comparison is of a moving loss
    assert losses["bf16"][-1] == pytest.approx(losses["fp32"][-1], rel=BF16_RELATIVE_TOLERANCE)
    assert losses["bf16"] != losses["fp32"]  # bf16 really ran: the numbers are not bit-identical


def test_compiled_step_matches_eager():
    """Dynamo's trace of grad_y f and of the backward through it, run with eager kernels (backend aot_eager).

    The inductor backend compiled DEEN for 5 to 55 s here (busy CPU), too slow for the suite; it matched
    eager when checked by hand (docs/performance.md), and so did UVB with inductor's RNG replaced by
    eager's (torch._inductor.config.fallback_random=True, else its z draws differ); UVB is left out for time.
    """
    model, loss_fn, x, sigma = tiny("deen")
    compiled_model = copy.deepcopy(model)
    eager = make_train_step(model, loss_fn, adam(model.parameters(), 1e-3, torch.device("cpu")), "fp32")
    compiled = make_train_step(
        compiled_model, loss_fn, adam(compiled_model.parameters(), 1e-3, torch.device("cpu")), "fp32", compile=True,
        compile_backend="aot_eager",
    )
    assert run_steps(compiled, x, sigma, 2) == pytest.approx(run_steps(eager, x, sigma, 2), rel=1e-5)
    for a, b in zip(compiled_model.parameters(), model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_uvb_train_runs_in_bf16(tmp_path):
    cfg = compose_config([*QUICK, "logger=none", "trainer.precision=bf16", *TINY["uvb"]])
    summary = train(cfg, tmp_path)
    assert summary["status"] == "finished" and summary["steps_done"] == 3


def test_an_unknown_precision_is_a_config_error(tmp_path):
    cfg = compose_config([*QUICK, "logger=none", "trainer.precision=fp16", *TINY["deen"]])
    with pytest.raises(ConfigError, match="trainer.precision must be one of auto, fp32, tf32, bf16, got fp16"):
        train(cfg, tmp_path)


@pytest.mark.parametrize(
    ("flags", "device", "expected"),
    [
        ({"avx512f", "avx512_bf16"}, "cpu", "bf16"),  # AVX512-BF16 (this project's CPU)
        ({"amx_tile", "amx_bf16"}, "cpu", "bf16"),  # AMX without the AVX512 flag
        ({"avx2", "avx512f"}, "cpu", "fp32"),  # no native bf16: emulated bf16 is slower than fp32
        (set(), "cpu", "fp32"),  # not Linux, or /proc/cpuinfo unreadable
        ({"avx512_bf16"}, "cuda", "tf32"),
    ],
)
def test_precision_auto_picks_what_the_device_does_natively(flags, device, expected):
    assert resolve_precision("auto", torch.device(device), flags) == expected
    assert resolve_precision("fp32", torch.device(device), flags) == "fp32"  # an explicit choice is kept


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16 amx_tile\n\nprocessor\t: 1\nflags\t\t: fpu sse avx512f avx512_bf16 amx_tile\n")
    assert cpu_flags(cpuinfo) == {"fpu", "sse", "avx512f", "avx512_bf16", "amx_tile"}
    assert cpu_flags(tmp_path / "missing") == set()


def test_a_run_says_which_precision_auto_chose(tmp_path):
    cfg = compose_config([*QUICK, "logger=none", *TINY["deen"]])  # trainer.precision: auto, the default
    assert cfg.trainer.precision == "auto"
    summary = train(cfg, tmp_path)
    assert summary["precision"] == resolve_precision("auto", torch.device("cpu"))


def test_a_nonfinite_step_is_reported_and_with_skip_nonfinite_leaves_the_weights_alone():
    model, loss_fn, x, sigma = tiny("deen")
    before = copy.deepcopy(model.state_dict())
    y_with_nan = x + sigma * torch.randn_like(x)
    y_with_nan[0, 0, 0, 0] = float("nan")
    step = make_train_step(model, loss_fn, adam(model.parameters(), 1e-3, torch.device("cpu")), "fp32", skip_nonfinite=True)
    _loss, finite = step(x, y_with_nan)
    assert not finite.item()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    _loss, finite = step(x, x + sigma * torch.randn_like(x))
    assert finite.item() and not all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def global_gradient_norm(model) -> float:
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in model.parameters() if p.grad is not None])))


def test_grad_clip_scales_the_gradients_to_the_clip_before_adam_and_leaves_smaller_ones_alone():
    model, loss_fn, x, sigma = tiny("deen")
    unclipped = copy.deepcopy(model)
    torch.manual_seed(0)
    y = x + sigma * torch.randn_like(x)
    make_train_step(unclipped, loss_fn, adam(unclipped.parameters(), 1e-3, torch.device("cpu")), "fp32")(x, y)
    norm = global_gradient_norm(unclipped)  # the step leaves the gradients Adam used in .grad
    for clip, expected in ((norm / 10, norm / 10), (norm * 10, norm)):
        clipped = copy.deepcopy(model)
        step = make_train_step(clipped, loss_fn, adam(clipped.parameters(), 1e-3, torch.device("cpu")), "fp32", grad_clip=clip)
        step(x, y)
        assert global_gradient_norm(clipped) == pytest.approx(expected, rel=1e-4)  # torch divides by the norm + 1e-6
    assert not all(torch.equal(a, b) for a, b in zip(clipped.parameters(), model.parameters()))  # it trained


def test_a_nan_gradient_is_still_caught_when_the_gradients_are_clipped():
    model, loss_fn, x, sigma = tiny("deen")
    before = copy.deepcopy(model.state_dict())
    y_with_nan = x + sigma * torch.randn_like(x)
    y_with_nan[0, 0, 0, 0] = float("nan")
    step = make_train_step(model, loss_fn, adam(model.parameters(), 1e-3, torch.device("cpu")), "fp32", skip_nonfinite=True, grad_clip=1.0)
    _loss, finite = step(x, y_with_nan)
    assert not finite.item()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
