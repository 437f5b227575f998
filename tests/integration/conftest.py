import pytest

from tests.helpers import Broker


@pytest.fixture(scope="module")
def broker():
    b = Broker()
    yield b
    b.stop()
