import pytest

import xpsolve


def test_config_context_restores():
    before = xpsolve.get_config()
    with xpsolve.config_context(check_finite=False):
        assert xpsolve.get_config()["check_finite"] is False
    assert xpsolve.get_config() == before


def test_set_config_validates():
    with pytest.raises(TypeError, match="must be a bool"):
        xpsolve.set_config(use_numba="yes")
    with pytest.raises(TypeError, match="Unknown configuration key"):
        with xpsolve.config_context(use_numbas=True):
            pass


def test_env_var_read_lazily(monkeypatch):
    monkeypatch.setenv("XPSOLVE_DISABLE_NUMBA", "1")
    assert xpsolve.get_config()["use_numba"] is False
    monkeypatch.delenv("XPSOLVE_DISABLE_NUMBA")
    assert xpsolve.get_config()["use_numba"] is True


def test_check_finite_can_be_disabled():
    import numpy as np

    C = np.array([[0.0, 1.0], [1.0, 0.0]])
    with xpsolve.config_context(check_finite=False):
        res = xpsolve.solve_ot(None, None, C, 1.0)
    assert res.success


def test_importing_xpsolve_does_not_import_gpu_or_torch():
    import subprocess
    import sys

    code = ("import sys, xpsolve; import xpsolve.problems; "
            "bad=[m for m in ('cupy','torch','numba','ot') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
