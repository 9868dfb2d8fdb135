"""Fixtures for the in-graph face detector: the nets, face photographs, the package's detector."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def nets():
    """The Keras P/R/O-Nets with the weights the mtcnn wheel ships."""
    from model_export.faces import load_nets

    return load_nets()


@pytest.fixture(scope="session")
def package_detector():
    """The mtcnn package's own detector, the reference the graph must agree with."""
    from mtcnn import MTCNN

    return MTCNN()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """A 512x512 RGB portrait that ships inside scikit-image."""
    from skimage.data import astronaut

    return astronaut()


@pytest.fixture(scope="session")
def grace_hopper() -> np.ndarray:
    """A 600x512 RGB portrait that ships inside matplotlib."""
    import matplotlib.cbook
    import matplotlib.image

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return np.ascontiguousarray(matplotlib.image.imread(path)[..., :3])
