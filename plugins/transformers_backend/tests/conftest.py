from pathlib import Path

import pytest

from gyrosi_transformers.tiny import save_tiny_gpt_oss


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gpt-oss model with the real architecture and vocabulary, random weights, on disk."""
    return save_tiny_gpt_oss(tmp_path_factory.mktemp("tiny-gpt-oss"))


@pytest.fixture(scope="session")
def shared_backend(tiny_checkpoint, harmony_encoding):
    """One backend on the tiny checkpoint, loaded through `from_pretrained`, for read-only tests."""
    from gyrosi_transformers.backend import TransformersBackend

    b = TransformersBackend({"checkpoint": str(tiny_checkpoint)}, harmony_encoding)
    yield b
    b.close()


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """A tiny model's ops are too small to share out: on a busy two-core machine a second torch
    thread mostly spin-waits (decoding measured 7x slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
