import os
import sys

import numpy as np
import pytest

# Makes `helpers` importable whatever the rootdir and import mode.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
