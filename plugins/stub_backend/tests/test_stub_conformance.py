from gyrosi_core.testing import BackendConformance
from gyrosi_stub.backend import StubBackend


class TestStubConformance(BackendConformance):
    def make_backend(self, encoding):
        return StubBackend({}, encoding)


def test_prompt_without_harmony_structure_is_answered_as_empty(harmony_encoding):
    backend = StubBackend({}, harmony_encoding)
    plain = harmony_encoding.encode("no special tokens here")
    text = harmony_encoding.decode(backend.completion(plain))
    assert text.endswith("<|channel|>final<|message|>You said: <|return|>")
