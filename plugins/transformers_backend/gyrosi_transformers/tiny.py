"""A tiny random-weight gpt-oss model for tests and benchmarks (nothing is downloaded).

The real gpt-oss architecture and o200k_harmony vocabulary, shrunk everywhere else: two layers
(one sliding-window, one full attention), four experts, hidden size 64.
"""

from pathlib import Path
from typing import Any

TINY_GPT_OSS: dict[str, Any] = {
    "vocab_size": 201088,
    "hidden_size": 64,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "layer_types": ["sliding_attention", "full_attention"],
    "sliding_window": 16,  # shorter than the test prompts, so the window is exercised
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "num_local_experts": 4,
    "num_experts_per_tok": 2,
    "max_position_embeddings": 4096,
    # wider than the default 0.02 so greedy choices are not near-ties that rounding could flip
    "initializer_range": 0.1,
}


def save_tiny_gpt_oss(path: str | Path, seed: int = 0, **overrides: Any) -> Path:
    """Build the tiny model with random weights from `seed` and `save_pretrained` it to `path`."""
    import torch
    from transformers import GptOssConfig, GptOssForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    torch.manual_seed(seed)
    model = GptOssForCausalLM(GptOssConfig(**{**TINY_GPT_OSS, **overrides}))
    model.save_pretrained(path)
    return Path(path)
