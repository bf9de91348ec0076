"""The `backends.transformers` config section."""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DTypeName = Literal["auto", "float32", "bfloat16", "float16"]


class TransformersConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checkpoint: Path | None = None  # a local directory written by `save_pretrained`
    device: str = "auto"  # auto: the first CUDA device when there is one, else the CPU
    dtype: DTypeName = "auto"  # auto: bfloat16 on CUDA (float16 if unsupported), float32 on CPU
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)  # nucleus sampling when temperature > 0
    context_length: int | None = Field(default=None, gt=0)  # None: the model's own limit
    max_sessions: int = Field(default=8, ge=0)  # conversations whose KV cache is kept (LRU)
    cache_memory_mb: float = Field(default=4096, ge=0)  # all kept KV caches together
    min_free_memory_mb: float = Field(default=1024, ge=0)  # below this, kept caches are dropped
    attn_implementation: str | None = None  # e.g. "eager", "sdpa"; None: transformers' choice
    prefill_chunk: int = Field(default=1024, gt=0)  # prompt tokens per forward pass
    threads: int | None = Field(default=None, gt=0)  # torch CPU threads; None: torch's default
