"""A Hugging Face causal LM as a GyroSI backend, decoding one token at a time from a KV cache.

gpt-oss's reference transformers backend re-runs the whole sequence for every token. Here the
prompt is run once (in chunks), each new token costs one single-position forward pass, and the
cache of a conversation is kept after its turn: the next turn's prompt usually starts with the
previous prompt and answer, so only the new tail is computed.
"""

import importlib.util
import inspect
import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from openai_harmony import HarmonyEncoding

from gyrosi_core.backend import BaseBackend
from gyrosi_core.config import validate_section
from gyrosi_core.errors import ContextLengthError, GyrosiError

from .sessions import Session, SessionStore, common_prefix
from .settings import TransformersConfig

log = logging.getLogger(__name__)

# Control tokens a Harmony model must be able to emit; the largest id bounds the vocabulary.
HARMONY_TOKENS = ("<|start|>", "<|channel|>", "<|message|>", "<|constrain|>", "<|end|>",
                  "<|return|>", "<|call|>")
FALLBACK_CONTEXT = 2048  # for a config that names no position limit


class TransformersBackendError(GyrosiError):
    """The checkpoint, device or installation cannot serve this backend."""


def _import_torch() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise TransformersBackendError(
            f"The transformers backend needs PyTorch and transformers, and {exc.name or 'one'} "
            f"is not installed; install them with `pip install torch transformers` (or "
            f"reinstall gyrosi-transformers-backend with its dependencies)."
        ) from exc
    return torch, transformers


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0].rstrip(".") if text else type(exc).__name__


def _free_memory(torch: Any, device: Any) -> int | None:
    """Bytes the device can still hand out (None when unknown)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:  # Linux's own estimate of memory available without swapping
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class TransformersBackend(BaseBackend):
    """Hugging Face transformers causal LM with a per-conversation KV cache."""

    speaks_harmony = False  # any checkpoint loads; only a Harmony-trained one answers in Harmony

    def __init__(self, config: dict[str, Any], encoding: HarmonyEncoding) -> None:
        super().__init__(config, encoding)
        self.settings = validate_section(TransformersConfig, config, "backends.transformers")
        self.checkpoint = self._checkpoint_dir()  # before the imports, which take seconds
        self.torch, transformers = _import_torch()
        if self.settings.threads:
            # process-wide; on a busy CPU fewer threads often decode faster (less spin-waiting)
            self.torch.set_num_threads(self.settings.threads)
        self.device = self._device()
        self.dtype = self._dtype()
        self.model = self._load(transformers)
        self.vocab_size = self._check_vocabulary(encoding)
        self.context_length = self._context_length()
        params = inspect.signature(self.model.forward).parameters
        # transformers renamed `past_key_values` to `cache` (5.2x); pass whichever it takes
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self._logits_to_keep = "logits_to_keep" in params
        s = self.settings
        self.sessions = SessionStore(
            s.max_sessions, s.cache_memory_mb * 2**20, s.min_free_memory_mb * 2**20,
            lambda: _free_memory(self.torch, self.device),
        )
        #: tokens whose keys/values came from a kept cache vs. were computed (prompt + output)
        self.reused_tokens = 0
        self.computed_tokens = 0

    # -- loading -----------------------------------------------------------------------------

    def _device(self) -> Any:
        torch, wanted = self.torch, self.settings.device
        if wanted == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            device = torch.device(wanted)
        except RuntimeError as exc:
            raise TransformersBackendError(
                f"backends.transformers.device {wanted!r} is not a device; use auto, cpu, cuda "
                f"or cuda:N."
            ) from exc
        if device.type == "cuda" and not torch.cuda.is_available():
            raise TransformersBackendError(
                f"backends.transformers.device is {wanted!r} but PyTorch sees no CUDA device; "
                f"use auto or cpu."
            )
        return device

    def _dtype(self) -> Any:
        torch, name = self.torch, self.settings.dtype
        if name == "auto":
            if self.device.type != "cuda":
                return torch.float32  # CPU half-precision matmuls are slow or missing
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return getattr(torch, name)

    def _checkpoint_dir(self) -> Path:
        path = self.settings.checkpoint
        if path is None:
            raise TransformersBackendError(
                "The transformers backend has no checkpoint; pass --checkpoint DIR or set "
                "backends.transformers.checkpoint to a model directory."
            )
        path = path.expanduser()
        if not path.exists():
            raise TransformersBackendError(
                f"Checkpoint {path} does not exist; point --checkpoint at a local model "
                f"directory (models are never downloaded)."
            )
        if not (path / "config.json").is_file():
            raise TransformersBackendError(
                f"{path} is not a transformers checkpoint: it has no config.json."
            )
        return path

    def _load(self, transformers: Any) -> Any:
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

        path = self.checkpoint
        try:
            model_config = transformers.AutoConfig.from_pretrained(path, local_files_only=True)
        except Exception as exc:
            raise TransformersBackendError(
                f"Checkpoint {path} has a config.json transformers cannot read "
                f"({_first_line(exc)})."
            ) from exc
        if type(model_config) not in MODEL_FOR_CAUSAL_LM_MAPPING:
            raise TransformersBackendError(
                f"Checkpoint {path} holds a {model_config.model_type!r} model, which is not a "
                f"causal language model; the transformers backend needs one that "
                f"AutoModelForCausalLM loads."
            )
        kwargs: dict[str, Any] = {"dtype": self.dtype, "local_files_only": True}
        if self.settings.attn_implementation:
            kwargs["attn_implementation"] = self.settings.attn_implementation
        on_device = importlib.util.find_spec("accelerate") is not None
        if on_device:  # load straight onto the device instead of through host memory
            kwargs["device_map"] = {"": str(self.device)}
        transformers.utils.logging.disable_progress_bar()  # the CLI's output is the answer
        started = time.perf_counter()
        try:
            model = transformers.AutoModelForCausalLM.from_pretrained(path, **kwargs)
            if not on_device:
                model = model.to(self.device)
        except Exception as exc:
            raise TransformersBackendError(
                f"Checkpoint {path} could not be loaded ({type(exc).__name__}: "
                f"{_first_line(exc)})."
            ) from exc
        model.eval()
        log.info("loaded %s from %s on %s (%s) in %.1f s", model_config.model_type, path,
                 self.device, self.dtype, time.perf_counter() - started)
        return model

    def _check_vocabulary(self, encoding: HarmonyEncoding) -> int:
        head = self.model.get_output_embeddings()
        weight = getattr(head, "weight", None)
        size = int(weight.shape[0]) if weight is not None else int(self.model.config.vocab_size)
        needed = max(encoding.encode(t, allowed_special="all")[0] for t in HARMONY_TOKENS) + 1
        if size < needed:
            raise TransformersBackendError(
                f"Checkpoint {self.checkpoint} has a vocabulary of {size:,} tokens, smaller than "
                f"the {needed:,} the Harmony control tokens need; use a model trained on "
                f"o200k_harmony (such as gpt-oss)."
            )
        return size

    def _context_length(self) -> int:
        config = self.model.config
        native = next(
            (int(v) for name in ("max_position_embeddings", "n_positions", "max_sequence_length")
             if isinstance(v := getattr(config, name, None), int) and v > 0),
            None,
        )
        wanted = self.settings.context_length
        if native is None:
            if wanted is None:
                log.warning("%s names no context length; assuming %d tokens (set "
                            "backends.transformers.context_length)", self.checkpoint,
                            FALLBACK_CONTEXT)
            return wanted or FALLBACK_CONTEXT
        return min(native, wanted) if wanted else native

    # -- the contract ------------------------------------------------------------------------

    def describe(self) -> str:
        kind = getattr(self.model.config, "model_type", "model")
        return (f"Hugging Face transformers {kind} from {self.checkpoint} on {self.device} "
                f"({str(self.dtype).removeprefix('torch.')}), KV cache reused across turns")

    def generate(
        self,
        tokens: Sequence[int],
        *,
        stop_tokens: Sequence[int],
        max_tokens: int,
        temperature: float = 0.0,
        seed: int | None = None,
        session_id: str | None = None,
    ) -> Iterator[int]:
        prompt = [int(t) for t in tokens]
        if not prompt:
            raise ValueError("the prompt is empty")
        if len(prompt) >= self.context_length:
            raise ContextLengthError(
                f"The prompt is {len(prompt)} tokens, which leaves no room in the model's "
                f"{self.context_length}-token context; shorten the conversation."
            )
        if max(prompt) >= self.vocab_size or min(prompt) < 0:
            raise ValueError(f"the prompt holds token ids outside the model's {self.vocab_size:,}"
                             f"-token vocabulary")
        budget = min(max_tokens, self.context_length - len(prompt))
        if budget <= 0:
            return
        stops = set(stop_tokens)
        session = self._session_for(prompt, session_id)
        sampler = self._sampler(temperature, seed)
        consistent = False  # the cache matches session.ids except in the middle of a forward
        try:
            logits = self._prefill(session, prompt)
            consistent = True
            for produced in range(1, budget + 1):
                token = sampler(logits)
                yield token  # the caller may stop here: the cache is consistent
                if token in stops or produced == budget:
                    break
                consistent = False
                logits = self._forward(session, [token])
                consistent = True
        finally:
            if session_id is not None and consistent:
                self.sessions.put(session_id, session)

    def end_session(self, session_id: str) -> None:
        self.sessions.drop(session_id)

    def close(self) -> None:
        self.sessions.clear()
        if self.device.type == "cuda":
            self.torch.cuda.empty_cache()

    # -- decoding ----------------------------------------------------------------------------

    def _new_session(self) -> Session:
        from transformers import DynamicCache

        # No config: every layer keeps all its positions, sliding-window layers included, so
        # the cache can be cropped back to any prefix (the model masks the window itself).
        return Session(DynamicCache())

    def _session_for(self, prompt: list[int], session_id: str | None) -> Session:
        session = self.sessions.take(session_id) if session_id is not None else None
        if session is None:
            return self._new_session()
        # The last prompt token always runs: its logits give the first new token.
        keep = min(common_prefix(session.ids, prompt), len(prompt) - 1)
        if keep == 0:
            return self._new_session()
        session.crop(keep)
        return session

    def _prefill(self, session: Session, prompt: list[int]) -> Any:
        """Run the part of the prompt the cache lacks; chunks bound the attention's memory."""
        torch = self.torch
        keep = len(session.ids)
        self.reused_tokens += keep
        try:
            return self._run_chunks(session, prompt[keep:])
        except torch.OutOfMemoryError:
            log.warning("out of memory in the prompt: dropping every kept KV cache and retrying")
            self.sessions.clear()
            session.cache, session.ids = self._new_session().cache, []
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            self.reused_tokens -= keep
            try:
                return self._run_chunks(session, prompt)
            except torch.OutOfMemoryError as exc:
                raise TransformersBackendError(
                    f"The {len(prompt)}-token prompt does not fit in {self.device} memory; "
                    f"shorten the conversation or lower backends.transformers.context_length."
                ) from exc

    def _run_chunks(self, session: Session, ids: list[int]) -> Any:
        chunk = self.settings.prefill_chunk
        logits = None
        for start in range(0, len(ids), chunk):
            logits = self._forward(session, ids[start:start + chunk])
        return logits

    def _forward(self, session: Session, ids: list[int]) -> Any:
        torch = self.torch
        kwargs: dict[str, Any] = {self._cache_kw: session.cache, "use_cache": True}
        if self._logits_to_keep:
            kwargs["logits_to_keep"] = 1  # the vocabulary projection only where it is used
        with torch.inference_mode():
            input_ids = torch.tensor([ids], dtype=torch.long, device=self.device)
            logits = self.model(input_ids=input_ids, **kwargs).logits[0, -1]
        session.ids.extend(ids)
        self.computed_tokens += len(ids)
        return logits.float()

    def _sampler(self, temperature: float, seed: int | None) -> Any:
        torch, device = self.torch, self.device
        if temperature <= 0:
            return lambda logits: int(torch.argmax(logits))
        generator = torch.Generator(device=device)
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(seed)
        top_p = self.settings.top_p

        def sample(logits: Any) -> int:
            probs = torch.softmax(logits / temperature, dim=-1)
            order = None
            if top_p < 1.0:
                probs, order = _nucleus(torch, probs, top_p)
            # inverse-CDF draw: one random number per token (torch.multinomial over a 200k
            # vocabulary costs ~25 ms on a CPU, this well under 1 ms)
            cdf = torch.cumsum(probs.double(), 0)
            u = torch.rand(1, generator=generator, device=device, dtype=torch.float64) * cdf[-1]
            index = min(int(torch.searchsorted(cdf, u, right=True)), len(cdf) - 1)
            return index if order is None else int(order[index])

        return sample


def _nucleus(torch: Any, probs: Any, top_p: float) -> tuple[Any, Any]:
    """The smallest set of most likely tokens whose mass reaches `top_p`: (probs, token ids).

    A full sort of the vocabulary costs ~30 ms on a CPU; the nucleus of a trained model is a few
    tokens, so widen a top-k until it holds the nucleus, and sort everything only if it never does.
    """
    k, n = min(256, len(probs)), len(probs)
    while True:
        values, order = torch.topk(probs, k)
        head = torch.cumsum(values, 0)
        if head[-1] >= top_p or k == n:
            keep = max(1, int(((head - values) < top_p).sum()))
            return values[:keep], order[:keep]
        k = min(k * 8, n)
