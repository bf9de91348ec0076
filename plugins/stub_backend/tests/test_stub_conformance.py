from gyrosi_core.testing import BackendConformance
from gyrosi_stub.backend import StubBackend


class TestStubConformance(BackendConformance):
    def make_backend(self, encoding):
        return StubBackend({}, encoding)
