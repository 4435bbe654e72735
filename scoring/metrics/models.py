"""Loading and running Hugging Face models for the model-based metrics.

torch and transformers are imported inside the functions, so importing this module is cheap.
Every failure a user can cause (bad path, wrong architecture, out of memory, tokenizer and
model that do not match) becomes a `MetricError` with a one-line message naming the model.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from typing import Any

from .base import MetricError

# What each kind of metric loads, and how a user would call such a model.
_AUTO_CLASS = {
    "embedding": "AutoModel",
    "causal_lm": "AutoModelForCausalLM",
    "reward": "AutoModelForSequenceClassification",
}
_WHAT = {
    "embedding": "a text encoder",
    "causal_lm": "a causal language model (a *ForCausalLM checkpoint)",
    "reward": "a reward model (a *ForSequenceClassification checkpoint)",
}

# Models stay loaded between runs of the same process, as an optimisation only: a worker that
# scores several studies with one model reads it once. Two entries bound the memory.
CACHE_SIZE = 2
_cache: OrderedDict[tuple[str, str, str], Loaded] = OrderedDict()
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class Loaded:
    model: Any
    tokenizer: Any
    path: str
    device: str
    load_seconds: float


def resolve_device(device: str | None) -> str:
    """The torch device to run on: ``device`` if given and usable, else CUDA if any, else CPU."""
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise MetricError(f"unknown device {device!r}") from exc
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise MetricError(f"device {device!r} was asked for but CUDA is not available")
    return str(parsed)


def load(kind: str, path: str, device: str) -> Loaded:
    """The model and tokenizer at ``path`` for metric ``kind``, on ``device``, from the cache
    when this process loaded them before (then ``load_seconds`` is 0)."""
    key = (kind, path, device)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return replace(_cache[key], load_seconds=0.0)
        loaded = _load(kind, path, device)
        _cache[key] = loaded
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return loaded


def clear_cache() -> None:
    """Forget the loaded models (and return CUDA memory to the driver if torch is loaded)."""
    import sys

    with _cache_lock:
        _cache.clear()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _load(kind: str, path: str, device: str) -> Loaded:
    import torch
    import transformers

    started = time.perf_counter()
    location = _local_path(path)
    try:
        config = transformers.AutoConfig.from_pretrained(location)
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError, ...
        raise MetricError(f"cannot load model {path}: {brief(exc)}") from exc
    _check_architecture(kind, path, config)
    auto_class = getattr(transformers, _AUTO_CLASS[kind])
    # float32 weights on the CPU: float16 is slow there, and bfloat16 is fast only on CPUs
    # with native support (AVX512-BF16, AMX), where the opt-in bf16 autocast (`autocast`) runs
    # the matrix products in bfloat16 from these float32 weights. On a GPU the checkpoint's own
    # dtype, so a bfloat16 model takes half the memory.
    dtype = torch.float32 if device == "cpu" else "auto"
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(location)
        model, info = auto_class.from_pretrained(
            location, config=config, dtype=dtype, output_loading_info=True
        )
    except Exception as exc:
        raise MetricError(f"cannot load {_WHAT[kind]} from {path}: {brief(exc)}") from exc
    missing = list(info.get("missing_keys") or [])
    if kind == "embedding":  # mean pooling never uses BERT's pooler
        missing = [key for key in missing if not key.startswith("pooler.")]
    if missing:
        shown = ", ".join(sorted(missing)[:3]) + (", ..." if len(missing) > 3 else "")
        raise MetricError(
            f"{path} is not {_WHAT[kind]}: it has no weights for {shown} (they would be random)"
        )
    if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
        tokenizer.pad_token = tokenizer.eos_token
    if kind == "reward" and model.config.pad_token_id is None:
        # Decoder reward models score the last non-padding token and need its id to find it.
        model.config.pad_token_id = tokenizer.pad_token_id
    try:
        model.to(device)
    except torch.cuda.OutOfMemoryError as exc:
        raise MetricError(f"model {path} does not fit in the memory of {device}") from exc
    model.eval()
    return Loaded(model, tokenizer, path, device, time.perf_counter() - started)


def _local_path(path: str) -> str:
    """``path`` with ``~`` expanded; a missing local directory is reported as such rather than
    as a failed hub look-up."""
    expanded = os.path.expanduser(path)
    looks_local = os.path.isabs(expanded) or path.startswith((".", "~")) or path.count("/") > 1
    if looks_local and not os.path.isdir(expanded):
        if os.path.exists(expanded):
            raise MetricError(f"model path {path} is not a directory")
        raise MetricError(f"model path {path} does not exist")
    return expanded


def _architecture_names(mapping: dict) -> set[str]:
    names: set[str] = set()
    for value in mapping.values():
        names.update([value] if isinstance(value, str) else value)
    return names


def _check_architecture(kind: str, path: str, config: Any) -> None:
    """Refuse a checkpoint saved with another head (a causal LM given as a reward model, ...).

    A checkpoint records the class it was saved from in ``config.architectures``; loading it
    into another head would silently start that head from random weights.
    """
    if kind == "embedding":
        return
    if kind == "causal_lm" and getattr(config, "is_encoder_decoder", False):
        raise MetricError(f"{path} is an encoder-decoder model, not {_WHAT[kind]}")
    saved_as = list(getattr(config, "architectures", None) or [])
    if not saved_as:
        return  # nothing recorded: the missing-weights check after loading decides
    from transformers.models.auto import modeling_auto

    if kind == "causal_lm":
        known = _architecture_names(modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)
        suffixes = ("ForCausalLM", "LMHeadModel")
    else:
        known = _architecture_names(modeling_auto.MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES)
        suffixes = ("ForSequenceClassification",)
    if not any(name in known or name.endswith(suffixes) for name in saved_as):
        raise MetricError(f"{path} is a {saved_as[0]}, not {_WHAT[kind]}")


def autocast(device: str, bf16: bool) -> AbstractContextManager:
    """bfloat16 autocast on ``device`` when ``bf16``, else nothing.

    Autocast runs matrix products (and, for BERT, attention and GELU) in bfloat16 and keeps
    LayerNorm and the residual stream in float32. One context around all batches lets it cast each weight once, not per batch.
    A CUDA device without bfloat16 would make torch disable autocast with only a warning, so
    it is refused here instead.
    """
    import torch

    if not bf16:
        return nullcontext()
    device_type = torch.device(device).type
    if device_type == "cuda" and not torch.cuda.is_bf16_supported():
        raise MetricError(f"device {device} has no bfloat16 support; run without bf16")
    return torch.autocast(device_type, dtype=torch.bfloat16)


def native_bf16(device: str) -> bool | None:
    """Whether ``device`` computes bfloat16 natively (None: cannot tell, e.g. an ARM CPU).

    On an x86 CPU without AVX512-BF16 or AMX, bf16 autocast is emulated and several times
    slower than float32 (bench/bench_metrics.py measures it).
    """
    import platform

    import torch

    device_type = torch.device(device).type
    if device_type == "cuda":
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    if device_type != "cpu" or platform.machine().lower() not in ("x86_64", "amd64", "i686"):
        return None
    cpu = getattr(torch, "cpu", None)
    checks = [
        getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    ]
    if not all(callable(check) for check in checks):
        return None
    return any(check() for check in checks)


@contextmanager
def running(path: str, device: str, batch_size: int) -> Iterator[None]:
    """Turn failures of a forward pass into `MetricError`."""
    import torch

    try:
        yield
    except torch.cuda.OutOfMemoryError as exc:
        torch.cuda.empty_cache()
        raise MetricError(
            f"model {path} ran out of memory on {device} with batch size {batch_size}; "
            "try a smaller batch size"
        ) from exc
    except (RuntimeError, IndexError, ValueError, TypeError) as exc:
        raise MetricError(f"model {path} failed on {device}: {brief(exc)}") from exc


def brief(exc: BaseException) -> str:
    """The first line of an exception's message, shortened."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def length_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, longest first.

    Similar lengths keep padding small; longest first makes an out-of-memory error happen at
    the first batch rather than after most of the work.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def pad_right(sequences: list[list[int]], pad_id: int, device: str) -> tuple[Any, Any]:
    """Token id lists as (input_ids, attention_mask) tensors, padded on the right.

    Right padding leaves every real token at the position it has unpadded, so a causal model
    computes the same values for it whatever else is in the batch.
    """
    import torch

    width = max(len(sequence) for sequence in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        input_ids[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
        attention_mask[row, : len(sequence)] = 1
    return input_ids.to(device), attention_mask.to(device)


def max_positions(model: Any, tokenizer: Any) -> int | None:
    """The longest input the model takes, from its config and its tokenizer (None: no limit)."""
    config = model.config
    limits = [
        getattr(config, name, None)
        for name in ("max_position_embeddings", "n_positions", "max_sequence_length")
    ]
    # Tokenizers without a limit report a huge sentinel (int(1e30)).
    limits.append(getattr(tokenizer, "model_max_length", None))
    limits = [int(limit) for limit in limits if isinstance(limit, int) and 0 < limit < 10**7]
    return min(limits) if limits else None


def keep_end(ids: list[int], budget: int, special_ids: set[int]) -> list[int]:
    """The last ``budget`` tokens of ``ids``, keeping its leading special tokens ([CLS], BOS)."""
    if len(ids) <= budget:
        return ids
    lead = 0
    while lead < len(ids) and lead < budget and ids[lead] in special_ids:
        lead += 1
    rest = budget - lead
    return ids[:lead] + (ids[len(ids) - rest :] if rest > 0 else [])


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def render_chat(
    tokenizer: Any, path: str, messages: list[dict], *, add_generation_prompt: bool
) -> str:
    """The chat template of the tokenizer at ``path`` applied to ``messages``, as text."""
    try:
        text = tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=add_generation_prompt
        )
    except Exception as exc:  # a Jinja error, or a template that refuses these roles
        raise MetricError(f"the chat template of {path} failed: {brief(exc)}") from exc
    if not isinstance(text, str):
        raise MetricError(f"the chat template of {path} did not render to text")
    return text
