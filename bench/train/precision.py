"""Training precision and memory layout: bf16 autocast where the hardware has it, fp32 where it must stay.

Why: on CPUs with native bf16 (Zen 4's avx512_bf16, Intel AMX) and on CUDA, bf16 autocast with
channels_last almost doubles the steps per second of the codecs' convolutions
(`results/benchmarks/`). Elsewhere bf16 is emulated and slower than fp32, so `auto` picks it only
where it is native. The entropy models (likelihoods of the latents, the rate term and the aux
loss) always run in fp32: a bf16 likelihood has 8 bits of mantissa, and a rate computed from it
is off by more than the differences training is after (`keep_fp32`).
"""

from __future__ import annotations

from contextlib import nullcontext

from bench.errors import BenchError

PRECISIONS = ("auto", "fp32", "bf16")


def native_bf16(device: str) -> tuple[bool, str]:
    """(has native bf16, why) for `device`."""
    import torch

    if device.startswith("cuda"):
        ok = bool(torch.cuda.is_bf16_supported())
        return ok, "CUDA device with bf16" if ok else "CUDA device without bf16"
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        flags = ""
    for flag, name in (("amx_bf16", "AMX"), ("avx512_bf16", "avx512_bf16")):
        if f" {flag}" in flags:
            return True, f"CPU with {name}"
    try:
        if torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return True, "CPU with oneDNN bf16 support"
    except Exception:  # noqa: BLE001 - an older torch without the probe: treat as not native
        pass
    return False, "CPU without native bf16"


def pick_precision(setting: str, device: str) -> tuple[str, str]:
    """('bf16' or 'fp32', the reason) for `--set precision=auto|fp32|bf16`."""
    if setting not in PRECISIONS:
        raise BenchError(f"--set precision={setting}: choose one of {', '.join(PRECISIONS)}")
    if setting != "auto":
        return setting, "asked for"
    native, why = native_bf16(device)
    return ("bf16" if native else "fp32"), f"auto: {why}"


def autocast(precision: str, device: str):
    """The autocast context of a training forward pass (a no-op in fp32)."""
    import torch

    if precision != "bf16":
        return nullcontext()
    return torch.autocast("cuda" if device.startswith("cuda") else "cpu", dtype=torch.bfloat16)


def keep_fp32(module, device: str) -> None:
    """Run `module` in fp32 even inside autocast: its floating inputs are cast up, autocast is off
    inside. Set on the instance, so the module's state dict and class are untouched."""
    import torch

    forward = module.forward
    kind = "cuda" if device.startswith("cuda") else "cpu"

    def fp32_forward(*args, **kwargs):
        args = [a.float() if torch.is_tensor(a) and a.is_floating_point() else a for a in args]
        kwargs = {k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in kwargs.items()}
        with torch.autocast(kind, enabled=False):
            return forward(*args, **kwargs)

    module.forward = fp32_forward


def prepare(model, modules_fp32: list[str], precision: str, device: str, channels_last: bool, compile_names: list[str]):
    """Apply the precision policy, memory layout and torch.compile to `model` in place; returns it.
    `compile_names` are submodules compiled one by one (`nn.Module.compile` keeps the state dict's
    keys), so the entropy models' Python-side code stays eager."""
    import torch

    if precision == "bf16":
        for name in modules_fp32:
            if hasattr(model, name):
                keep_fp32(getattr(model, name), device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    for name in compile_names:
        if hasattr(model, name):
            getattr(model, name).compile()
    return model


def as_input(x, model):
    """`x` in the memory layout of `model`'s convolutions (channels_last when `prepare` set it)."""
    import torch

    weight = next(p for p in model.parameters() if p.dim() == 4)
    channels_last = weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x
