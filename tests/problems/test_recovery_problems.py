"""The robust-sensing generator (SubGM spec, section 7) and its registered problems."""
import numpy as np
import pytest

from xpsolve.backends import namespace_name, to_numpy
from xpsolve.problems import get_problem, list_problems
from xpsolve.problems.recovery import robust_sensing


def test_generator_ground_truth_and_measurements():
    inst = robust_sensing(12, 3, 400, p=0.25, kappa=5.0, seed=3)
    X = inst["X_star"]
    lam = np.linalg.eigvalsh(X)[::-1]
    np.testing.assert_allclose(np.linalg.norm(X), 1.0, rtol=1e-12)
    np.testing.assert_allclose(lam[0] / lam[2], 5.0, rtol=1e-10)     # condition number kappa
    assert np.all(np.abs(lam[3:]) < 1e-12)                             # rank r, PSD
    np.testing.assert_allclose(inst["U_star"] @ inst["U_star"].T, X, atol=1e-14)
    clean = np.einsum("ijk,jk->i", inst["A"], X)
    np.testing.assert_allclose(inst["y"] - clean, inst["s"], atol=1e-12)
    assert np.all(inst["s"][~inst["mask"]] == 0) and 0.15 < inst["mask"].mean() < 0.35
    np.testing.assert_allclose(inst["f_star"], np.abs(inst["s"]).mean())
    again = robust_sensing(12, 3, 400, p=0.25, kappa=5.0, seed=3)
    np.testing.assert_array_equal(again["y"], inst["y"])


def test_rank_one_and_constant_outliers():
    inst = robust_sensing(8, 2, 100, p=0.5, seed=0, operator="rank1", outliers="constant",
                          outlier_scale=7.0)
    assert inst["A"].shape == (100, 8)
    clean = ((inst["A"] @ inst["U_star"]) ** 2).sum(1)
    np.testing.assert_allclose(inst["y"][~inst["mask"]], clean[~inst["mask"]])
    np.testing.assert_allclose(inst["y"][inst["mask"]] - clean[inst["mask"]], 7.0)


@pytest.mark.parametrize("kw, msg", [
    ({"d": 0}, "d must be a positive int"), ({"r": 9}, "r must be <= d"),
    ({"p": 1.0}, "p must be in"), ({"operator": "fourier"}, "operator must be"),
    ({"kappa": 0.5}, "kappa >= 1"), ({"outliers": "big"}, "outliers must be"),
])
def test_generator_rejects_bad_parameters(kw, msg):
    args = {"d": 8, "r": 2, "m": 50, **kw}
    with pytest.raises(ValueError, match=msg):
        robust_sensing(**args)


def test_registered_problems_and_backends(xp):
    names = [p.name for p in list_problems(family="recovery")]
    assert names == ["recovery/gaussian_sensing", "recovery/quadratic_sensing"]
    contract = [p.name for p in list_problems(family="recovery") if "contract" in p.tags]
    assert contract == ["recovery/gaussian_sensing"]
    ref = get_problem("recovery/gaussian_sensing", size="tiny", seed=1)
    p = get_problem("recovery/gaussian_sensing", size="tiny", seed=1, xp=xp)
    assert namespace_name(p.xp) == namespace_name(xp) and p.data["rank"] == 2
    np.testing.assert_array_equal(to_numpy(p.data["y"]), to_numpy(ref.data["y"]))
    res = p.solve("subgm")
    m = p.metrics(res)
    assert p.success(res) and m["rel_err"] < 1e-8 and m["rel_err_best"] < 1e-6
    np.testing.assert_allclose(m["rel_err"], res.rel_err, rtol=1e-6)
    with pytest.raises(ValueError, match="rank must be in"):
        get_problem("recovery/gaussian_sensing", size="tiny", rank=7)
