import pytest

from gyrosi_core.testing import BackendConformance
from gyrosi_transformers.backend import TransformersBackend


class TestTransformersConformance(BackendConformance):
    """A random-weight model does not speak Harmony: the suite checks the contract, and that the
    turn engine ends such a turn cleanly with an error event."""

    @pytest.fixture
    def backend(self, tiny_checkpoint, harmony_encoding):
        b = TransformersBackend({"checkpoint": str(tiny_checkpoint)}, harmony_encoding)
        yield b
        b.close()

    def test_declares_no_harmony_guarantee(self, backend):
        assert backend.speaks_harmony is False
