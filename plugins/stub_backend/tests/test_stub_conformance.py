from gyrosi_stub.backend import StubBackend

from gyrosi_core.testing import BackendConformance


class TestStubConformance(BackendConformance):
    def make_backend(self, encoding):
        return StubBackend({}, encoding)
