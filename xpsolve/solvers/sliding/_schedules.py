r"""Parameter schedules of the gradient-sliding methods (pluggable objects).

Every parameter rule lives in one object so a published rule can replace a
reconstructed one without an API change. An outer schedule is started once with the
problem constants and then answers, for outer iteration ``k = 1, 2, ...``, a
:class:`Step` ``(gamma, beta, T, eta, restart)``:

- :class:`LanSetA`, :class:`LanSetB`: Lan's published parameter sets for GS / SGS
  (Math. Program. 2016, arXiv:1406.0919, Corollaries 2.2 / 2.3 form).
- :class:`MultiPhase`: Lan's multi-phase (restarted) GS/SGS for strongly convex
  problems; phases of set A with the gap estimate halved per phase (``c_N`` inferred).
- :class:`RestartFree`: the restart-free stochastic sliding schedule (RF-SGS).
  **Reconstructed** (inferred) from Lan's analysis; the exact rules of Wu, Xu and Zhang
  (arXiv:2602.04161) were not available.
- :class:`RestartFreeSmoothing`: the restart-free accelerated schedule (RF-ASGS) with a
  geometrically decreasing smoothing parameter. **Reconstructed** (inferred).

Inner prox-sliding weights (:class:`LanPSWeights`) are pluggable too.

A schedule is a plain object with ``start(**consts)`` and ``step(k) -> Step``; a
user-written class with those two methods is accepted by the ``schedule`` option.
"""
from __future__ import annotations

import dataclasses
import math
import numbers

__all__ = ["Step", "LanPSWeights", "LanSetA", "LanSetB", "MultiPhase", "RestartFree",
           "RestartFreeSmoothing"]


@dataclasses.dataclass(frozen=True)
class Step:
    """Parameters of one outer iteration.

    Parameters
    ----------
    gamma : float
        Averaging weight.
    beta : float
        Prox weight of the inner model.
    T : int
        Number of inner steps.
    eta : float or None
        Smoothing parameter (RF-ASGS) or ``None``.
    restart : bool
        Start a new phase at this iteration (the prox-centre is reset to the aggregated
        point).

    Examples
    --------
    >>> from xpsolve.solvers.sliding import Step
    >>> Step(gamma=0.5, beta=1.0, T=3)
    Step(gamma=0.5, beta=1.0, T=3, eta=None, restart=False)
    """

    gamma: float
    beta: float
    T: int
    eta: float | None = None
    restart: bool = False


def _pos(name, v, *, allow_zero=False, allow_none=False):
    if v is None and allow_none:
        return None
    ok = isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and (
        v >= 0 if allow_zero else v > 0)
    if not ok:
        raise ValueError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} "
                         f"finite number; got {v!r}")
    return float(v)


def _ceil(v, cap=None):
    """``ceil`` in float64, capped (geometric T_k overflows an int otherwise)."""
    if cap is not None and not v < cap:
        return int(cap)
    if not v < 2.0 ** 53:  # inf / nan: a zero gap estimate or an overflowing schedule
        raise ValueError(f"the inner-loop schedule asks for T = {v!r} steps (the initial gap "
                         "estimate Delta0 is at rounding level or the schedule overflowed); "
                         "set the option T_max or max_inner, or Delta0")
    return max(1, int(math.ceil(v - 1e-12)))


def _div(num, den):
    """``num / den`` that is ``inf`` (not ZeroDivisionError) when ``den`` underflows to 0."""
    return num / den if den > 0 else math.inf


class LanPSWeights:
    r"""Lan's prox-sliding weights :math:`p_t = t/2`, :math:`\theta_t = 2(t+1)/(t(t+3))`.

    Equivalently :math:`P_t = \prod_{i\le t} p_i/(1+p_i) = 2/((t+1)(t+2))` and
    :math:`\theta_t = (P_{t-1} - P_t)/((1 - P_t) P_{t-1})`; :math:`\theta_1 = 1`.
    A replacement (option ``ps_weights``) is any object with ``p(t)`` and ``theta(t)``.

    Examples
    --------
    >>> from xpsolve.solvers.sliding import LanPSWeights
    >>> w = LanPSWeights()
    >>> w.p(2), w.theta(1), LanPSWeights.P(1)
    (1.0, 1.0, 0.3333333333333333)
    """

    def p(self, t):
        return 0.5 * t

    def theta(self, t):
        return 2.0 * (t + 1) / (t * (t + 3.0))

    @staticmethod
    def P(t):
        return 2.0 / ((t + 1.0) * (t + 2.0))


class LanSetA:
    r"""Lan's parameter set A (``N`` fixed in advance).

    :math:`\gamma_k = 2/(k+1)`, :math:`\beta_k = 2L/k`,
    :math:`T_k = \lceil (M^2+\sigma^2) N k^2 / (\tilde D L^2)\rceil`.

    Parameters
    ----------
    N : int, optional
        Planned number of outer iterations (default: the solver's ``maxiter``).
    Dt : float, optional
        Lan's scale :math:`\tilde D` (best of the order of :math:`V(x_0, x^*)`); default
        :math:`\Delta_0/\mu`, an upper bound on :math:`V(x_0,x^*)` by strong convexity
        (inferred default).
    T_max : float
        Cap on :math:`T_k`.

    Examples
    --------
    >>> from xpsolve.solvers.sliding import LanSetA
    >>> LanSetA(N=10).start(L=1.0, mu=0.1, M2=4.0, Delta0=1.0, maxiter=10).step(1)
    Step(gamma=1.0, beta=2.0, T=4, eta=None, restart=False)
    """

    def __init__(self, N=None, Dt=None, T_max=1e7):
        self.N = None if N is None else int(N)
        self.Dt = _pos("Dt", Dt, allow_none=True)
        self.T_max = _pos("T_max", T_max)

    def start(self, *, L, mu, M2, Delta0, maxiter, **_):
        self.L, self.M2 = L, M2
        self._N = self.N if self.N is not None else max(int(maxiter), 1)
        self._Dt = self.Dt if self.Dt is not None else Delta0 / mu
        return self

    def step(self, k):
        T = _ceil(self.M2 * self._N * k * k / (self._Dt * self.L ** 2), self.T_max)
        return Step(gamma=2.0 / (k + 1), beta=2.0 * self.L / k, T=T)


class LanSetB:
    r"""Lan's parameter set B (anytime).

    :math:`\gamma_k = 3/(k+2)`, :math:`T_k = \lceil (M^2+\sigma^2)(k+1)^3/(\tilde D L^2)\rceil`,
    :math:`\beta_k = 9L(1 - P_{T_k})/(2(k+1))` with :math:`P_T = 2/((T+1)(T+2))`.

    Parameters
    ----------
    Dt : float, optional
        Lan's scale :math:`\tilde D` (default :math:`\Delta_0/\mu`, inferred).
    T_max : float
        Cap on :math:`T_k`.

    Examples
    --------
    >>> from xpsolve.solvers.sliding import LanSetB
    >>> LanSetB().start(L=1.0, mu=0.1, M2=4.0, Delta0=1.0).step(1)
    Step(gamma=1.0, beta=2.1, T=4, eta=None, restart=False)
    """

    def __init__(self, Dt=None, T_max=1e7):
        self.Dt = _pos("Dt", Dt, allow_none=True)
        self.T_max = _pos("T_max", T_max)

    def start(self, *, L, mu, M2, Delta0, **_):
        self.L, self.M2 = L, M2
        self._Dt = self.Dt if self.Dt is not None else Delta0 / mu
        return self

    def step(self, k):
        T = _ceil(self.M2 * (k + 1) ** 3 / (self._Dt * self.L ** 2), self.T_max)
        beta = 9.0 * self.L * (1.0 - LanPSWeights.P(T)) / (2.0 * (k + 1))
        return Step(gamma=3.0 / (k + 2), beta=beta, T=T)


class MultiPhase:
    r"""Lan's multi-phase (restarted) GS/SGS for :math:`\mu`-strongly convex :math:`\Psi`.

    Phase :math:`s = 1, 2, \dots` runs :math:`N_0 = \lceil c_N\sqrt{L/\mu}\rceil` outer
    iterations of set A with :math:`\tilde D = \Delta_{s-1}/\mu`, started at the previous
    phase's output, and halves :math:`\Delta_s = \Delta_{s-1}/2`. Phases continue until the
    solver's ``maxiter`` (or ``phases`` phases).

    Parameters
    ----------
    c_N : float
        Phase length factor (inferred default 2: Lan states an explicit constant; our
        reference used :math:`N_0 = \lceil\sqrt{4L/\mu}\rceil`).
    phases : int, optional
        Number of phases :math:`S` (e.g. :math:`\lceil\log_2(\Delta_0/\epsilon)\rceil`);
        default: unlimited (``maxiter`` decides).
    T_max : float
        Cap on :math:`T_k`.

    Examples
    --------
    With :math:`L/\mu = 4`, phases of :math:`N_0 = \lceil 2\sqrt 4\rceil = 4` iterations;
    iteration 5 opens phase 2 with a restart:

    >>> from xpsolve.solvers.sliding import MultiPhase
    >>> s = MultiPhase().start(L=1.0, mu=0.25, M2=0.0, Delta0=1.0)
    >>> s.N0, s.phase(5), s.step(5).restart
    (4, (2, 1), True)
    """

    def __init__(self, c_N=2.0, phases=None, T_max=1e7):
        self.c_N = _pos("c_N", c_N)
        self.phases = None if phases is None else int(phases)
        self.T_max = _pos("T_max", T_max)

    def start(self, *, L, mu, M2, Delta0, **_):
        self.L, self.mu, self.M2, self.Delta0 = L, mu, M2, Delta0
        self.N0 = max(1, int(math.ceil(self.c_N * math.sqrt(L / mu) - 1e-12)))
        return self

    def phase(self, k):
        """(phase index s >= 1, iteration within the phase j >= 1) of outer iteration k."""
        return (k - 1) // self.N0 + 1, (k - 1) % self.N0 + 1

    def total(self):
        return None if self.phases is None else self.phases * self.N0

    def step(self, k):
        s, j = self.phase(k)
        Delta = self.Delta0 * 0.5 ** (s - 1)
        T = _ceil(_div(self.M2 * self.N0 * j * j * self.mu, Delta * self.L ** 2), self.T_max)
        return Step(gamma=2.0 / (j + 1), beta=2.0 * self.L / j, T=T, restart=(j == 1 and s > 1))


class RestartFree:
    r"""Restart-free sliding schedule (RF-SGS). **Reconstructed (inferred)**.

    :math:`q = \sqrt{\mu/L}`, :math:`\gamma = q/(1+q)`, :math:`\beta = L\gamma`,
    :math:`\Gamma_k = (1-\gamma)^k`,
    :math:`T_k = \max(1, \min(T_{\max}, \lceil c_T (M^2+\sigma^2)/(\beta\Delta_0\Gamma_k)\rceil))`.

    The constant ratio :math:`1-\gamma` telescopes a Lyapunov function when
    :math:`L\gamma \le \beta \le \mu(1-\gamma)/\gamma`; :math:`T_k \propto 1/\Gamma_k`
    keeps every inner error term :math:`O(\Gamma_N\Delta_0)`, giving
    :math:`O(\sqrt{L/\mu}\log(1/\epsilon))` gradients and :math:`O((M^2+\sigma^2)/(\mu\epsilon))`
    subgradients (the complexity claimed by Wu, Xu and Zhang; their exact constants are
    not reproduced).

    Parameters
    ----------
    c_T : float
        Inner-length factor (default 1; 0.1 also works well for stochastic oracles).
    T_max : float
        Cap on :math:`T_k`.
    beta_factor : float
        :math:`\beta = \text{beta\_factor}\cdot L\gamma` (default 1, the lower end of the
        admissible range).

    Examples
    --------
    >>> from xpsolve.solvers.sliding import RestartFree
    >>> s = RestartFree().start(L=1.0, mu=0.25, M2=1.0, Delta0=1.0)
    >>> s.gamma, s.step(1).T              # q = 1/2, gamma = q/(1+q); T_1 = ceil(9/2)
    (0.3333333333333333, 5)
    """

    def __init__(self, c_T=1.0, T_max=1e7, beta_factor=1.0):
        self.c_T = _pos("c_T", c_T)
        self.T_max = _pos("T_max", T_max)
        self.beta_factor = _pos("beta_factor", beta_factor)

    def start(self, *, L, mu, M2, Delta0, **_):
        q = math.sqrt(mu / L)
        self.gamma = q / (1.0 + q)
        self.beta = self.beta_factor * L * self.gamma
        self.M2, self.Delta0 = M2, Delta0
        return self

    def Gamma(self, k):
        return (1.0 - self.gamma) ** k

    def step(self, k):
        if self.M2 == 0:
            T = 1
        else:
            G = max(self.Gamma(k), 1e-300)
            T = _ceil(_div(self.c_T * self.M2, self.beta * self.Delta0 * G), self.T_max)
        return Step(gamma=self.gamma, beta=self.beta, T=T)


class RestartFreeSmoothing(RestartFree):
    r"""Restart-free accelerated sliding schedule (RF-ASGS). **Reconstructed (inferred)**.

    :math:`\gamma, \beta, \Gamma_k` as in :class:`RestartFree`; smoothing
    :math:`\eta_k = \eta_0\Gamma_k` with :math:`\eta_0 = \Delta_0/D_Y^2`; the inner
    accelerated loop runs :math:`T_k = \lceil c_T\sqrt{\kappa_k}\rceil` steps with
    :math:`\kappa_k = (L_k + \mu + \beta)/(\mu + \beta)`, :math:`L_k = \|K\|^2/\eta_k`
    (one exact prox step when :math:`K = 0`).

    Parameters
    ----------
    c_T : float
        Inner-length factor (default 1).
    eta0 : float, optional
        Initial smoothing (default :math:`\Delta_0/D_Y^2`).
    T_max : float
        Cap on :math:`T_k`.
    beta_factor : float
        As in :class:`RestartFree`.

    Examples
    --------
    >>> from xpsolve.solvers.sliding import RestartFreeSmoothing
    >>> s = RestartFreeSmoothing().start(L=1.0, mu=0.25, M2=0.0, Delta0=1.0, D_Y2=1.0,
    ...                                  norm_K=1.0)
    >>> step = s.step(1)
    >>> round(step.eta, 6), step.T        # eta_1 = eta0 (1 - gamma), T_1 = ceil(sqrt(kappa_1))
    (0.666667, 2)
    """

    def __init__(self, c_T=1.0, eta0=None, T_max=1e7, beta_factor=1.0):
        super().__init__(c_T=c_T, T_max=T_max, beta_factor=beta_factor)
        self.eta0 = _pos("eta0", eta0, allow_none=True)

    def start(self, *, L, mu, M2, Delta0, D_Y2=None, norm_K=None, **_):
        super().start(L=L, mu=mu, M2=M2, Delta0=Delta0)
        self.mu = mu
        self.norm_K2 = float(norm_K) ** 2
        self._eta0 = self.eta0 if self.eta0 is not None else Delta0 / max(D_Y2, 1e-300)
        return self

    def step(self, k):
        eta = max(self._eta0 * self.Gamma(k), 1e-300)
        Lk = self.norm_K2 / eta
        if Lk == 0:
            return Step(gamma=self.gamma, beta=self.beta, T=1, eta=eta)
        m = self.mu + self.beta
        kappa = (Lk + m) / m
        T = _ceil(self.c_T * math.sqrt(kappa), self.T_max)
        return Step(gamma=self.gamma, beta=self.beta, T=T, eta=eta)
