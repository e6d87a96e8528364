from __future__ import annotations

import numpy as np

from latentprobe.analyzers import active_units


def test_variance_with_ddof_1_against_threshold():
    mu = np.array([[0.0, 1.0, 5.0], [0.0, 1.2, 5.0], [0.0, 0.8, 5.3]])
    result = active_units(mu, threshold=0.01)
    np.testing.assert_allclose(result.var_of_means, np.var(mu, axis=0, ddof=1))
    assert result.indices == [1, 2] and result.count == 2
    assert active_units(mu, threshold=0.035).indices == [1]  # variances 0.04, 0.03 (std 0.17)


def test_single_example():
    result = active_units(np.array([[1.0, 2.0]]))
    assert result.count == 0 and result.var_of_means.tolist() == [0.0, 0.0]
