"""Each way the backend cannot start is one sentence that says what to do."""

import pytest

from gyrosi_core.errors import ConfigError
from gyrosi_transformers.backend import TransformersBackend, TransformersBackendError
from gyrosi_transformers.tiny import save_tiny_gpt_oss


def error(encoding, **settings):
    with pytest.raises((TransformersBackendError, ConfigError)) as info:
        TransformersBackend(settings, encoding)
    message = str(info.value)
    assert "\n" not in message and message.endswith(".")
    return message


def test_no_checkpoint(harmony_encoding):
    assert "pass --checkpoint DIR" in error(harmony_encoding)


def test_missing_checkpoint(harmony_encoding, tmp_path):
    message = error(harmony_encoding, checkpoint=str(tmp_path / "gone"))
    assert "gone does not exist" in message and "never downloaded" in message


def test_directory_that_is_not_a_checkpoint(harmony_encoding, tmp_path):
    assert "has no config.json" in error(harmony_encoding, checkpoint=str(tmp_path))


def test_not_a_causal_lm(harmony_encoding, tmp_path):
    from transformers import T5Config

    T5Config(d_model=8, num_layers=1, num_heads=1, d_kv=8, d_ff=8).save_pretrained(tmp_path)
    message = error(harmony_encoding, checkpoint=str(tmp_path))
    assert "holds a 't5' model, which is not a causal language model" in message


def test_unreadable_weights(harmony_encoding, tmp_path):
    save_tiny_gpt_oss(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not safetensors")
    assert "could not be loaded" in error(harmony_encoding, checkpoint=str(tmp_path))


def test_vocabulary_too_small(harmony_encoding, tmp_path):
    save_tiny_gpt_oss(tmp_path, vocab_size=1000)
    message = error(harmony_encoding, checkpoint=str(tmp_path))
    assert "vocabulary of 1,000 tokens" in message and "200,013" in message


def test_bad_settings(harmony_encoding, tiny_checkpoint):
    ckpt = str(tiny_checkpoint)
    assert "backends.transformers.top_p" in error(harmony_encoding, checkpoint=ckpt, top_p=2)
    assert "backends.transformers.colour: unknown key" in error(
        harmony_encoding, checkpoint=ckpt, colour="red")
    assert "is not a device" in error(harmony_encoding, checkpoint=ckpt, device="toaster")
