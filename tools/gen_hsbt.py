"""Generate xpsolve/problems/_hsbt.py: HS/BT test problems with exact symbolic derivatives.

Run: python tools/gen_hsbt.py  (needs sympy; the generated module does not).
Formulas, start points and optimal values: /work/shared/specs/equality-constrained-problems.md
(Hock-Schittkowski 1981; Boggs-Tolle 1989 in their CUTEst form).
"""
import sympy as sp

r2 = "sqrt(2)"
P = {}
def add(name, n, f, cs, x0, fopt, kkt_only=False, note=""):
    P[name] = dict(n=n, f=f, cs=cs, x0=x0, fopt=fopt, kkt_only=kkt_only, note=note)

add("hs6", 2, "(1-x1)**2", ["10*(x2 - x1**2)"], ["-1.2", "1"], "0")
add("hs7", 2, "log(1+x1**2) - x2", ["(1+x1**2)**2 + x2**2 - 4"], ["2", "2"], "-sqrt(3)")
add("hs8", 2, "-1 + 0*x1", ["x1**2+x2**2-25", "x1*x2 - 9"], ["2", "1"], "-1")
add("hs9", 2, "sin(pi*x1/12)*cos(pi*x2/16)", ["4*x1 - 3*x2"], ["0", "0"], "-0.5")
add("hs26", 3, "(x1-x2)**2 + (x2-x3)**4", ["(1+x2**2)*x1 + x3**4 - 3"], ["-2.6", "2", "2"], "0",
    note="degenerate solution")
add("hs27", 3, "0.01*(x1-1)**2 + (x2-x1**2)**2", ["x1 + x3**2 + 1"], ["2", "2", "2"], "0.04")
add("hs28", 3, "(x1+x2)**2 + (x2+x3)**2", ["x1 + 2*x2 + 3*x3 - 1"], ["-4", "1", "1"], "0")
add("hs39", 4, "-x1", ["x2 - x1**3 - x3**2", "x1**2 - x2 - x4**2"], ["2"] * 4, "-1")
add("hs40", 4, "-x1*x2*x3*x4", ["x1**3 + x2**2 - 1", "x1**2*x4 - x3", "x4**2 - x2"], ["0.8"] * 4,
    "-0.25")
add("hs42", 4, "(x1-1)**2+(x2-2)**2+(x3-3)**2+(x4-4)**2", ["x1 - 2", "x3**2 + x4**2 - 2"],
    ["1"] * 4, "28 - 10*sqrt(2)")
add("hs46", 5, "(x1-x2)**2 + (x3-1)**2 + (x4-1)**4 + (x5-1)**6",
    ["x1**2*x4 + sin(x4-x5) - 1", "x2 + x3**4*x4**2 - 2"], ["sqrt(2)/2", "1.75", "0.5", "2", "2"], "0")
add("hs47", 5, "(x1-x2)**2 + (x2-x3)**3 + (x3-x4)**4 + (x4-x5)**4",
    ["x1 + x2**2 + x3**3 - 3", "x2 - x3**2 + x4 - 1", "x1*x5 - 1"],
    ["2", "sqrt(2)", "-1", "2-sqrt(2)", "0.5"], "0", kkt_only=True,
    note="several KKT points; listed f* = 0 is not the lowest local value")
add("hs48", 5, "(x1-1)**2 + (x2-x3)**2 + (x4-x5)**2",
    ["x1+x2+x3+x4+x5 - 5", "x3 - 2*(x4+x5) + 3"], ["3", "5", "-3", "2", "-2"], "0")
add("hs49", 5, "(x1-x2)**2 + (x3-1)**2 + (x4-1)**4 + (x5-1)**6",
    ["x1+x2+x3+4*x4 - 7", "x3 + 5*x5 - 6"], ["10", "7", "2", "-3", "0.8"], "0")
add("hs50", 5, "(x1-x2)**2 + (x2-x3)**2 + (x3-x4)**4 + (x4-x5)**2",
    ["x1+2*x2+3*x3-6", "x2+2*x3+3*x4-6", "x3+2*x4+3*x5-6"], ["35", "-31", "11", "5", "-5"], "0")
add("hs51", 5, "(x1-x2)**2 + (x2+x3-2)**2 + (x4-1)**2 + (x5-1)**2",
    ["x1+3*x2-4", "x3+x4-2*x5", "x2-x5"], ["2.5", "0.5", "2", "-1", "0.5"], "0")
add("hs52", 5, "(4*x1-x2)**2 + (x2+x3-2)**2 + (x4-1)**2 + (x5-1)**2",
    ["x1+3*x2", "x3+x4-2*x5", "x2-x5"], ["2"] * 5, "Rational(1859, 349)")
add("hs56", 7, "-x1*x2*x3",
    ["x1 - 4.2*sin(x4)**2", "x2 - 4.2*sin(x5)**2", "x3 - 4.2*sin(x6)**2",
     "x1+2*x2+2*x3 - 7.2*sin(x7)**2"],
    ["1", "1", "1", "asin(sqrt(1/4.2))", "asin(sqrt(1/4.2))", "asin(sqrt(1/4.2))",
     "asin(sqrt(5/7.2))"], "-3.456")
add("hs61", 3, "4*x1**2+2*x2**2+2*x3**2-33*x1+16*x2-24*x3",
    ["3*x1 - 2*x2**2 - 7", "4*x1 - x3**2 - 11"], ["0", "0", "0"], "-143.6461422",
    note="rank-deficient Jacobian at x0 (LICQ fails)")
add("hs77", 5, "(x1-1)**2 + (x1-x2)**2 + (x3-1)**2 + (x4-1)**4 + (x5-1)**6",
    ["x1**2*x4 + sin(x4-x5) - 2*sqrt(2)", "x2 + x3**4*x4**2 - 8 - sqrt(2)"], ["2"] * 5,
    "0.2415051288")
add("hs78", 5, "x1*x2*x3*x4*x5",
    ["x1**2+x2**2+x3**2+x4**2+x5**2 - 10", "x2*x3 - 5*x4*x5", "x1**3 + x2**3 + 1"],
    ["-2", "1.5", "2", "-1", "-1"], "-2.9197004090")
add("hs79", 5, "(x1-1)**2 + (x1-x2)**2 + (x2-x3)**2 + (x3-x4)**4 + (x4-x5)**4",
    ["x1 + x2**2 + x3**3 - 2 - 3*sqrt(2)", "x2 - x3**2 + x4 + 2 - 2*sqrt(2)", "x1*x5 - 2"],
    ["2"] * 5, "0.0787768209")
add("hs100lnp", 7,
    "(x1-10)**2 + 5*(x2-12)**2 + x3**4 + 3*(x4-11)**2 + 10*x5**6 + 7*x6**2 + x7**4 - 4*x6*x7"
    " - 10*x6 - 8*x7",
    ["2*x1**2 + 3*x2**4 + x3 + 4*x4**2 + 5*x5 - 127",
     "-4*x1**2 - x2**2 + 3*x1*x2 - 2*x3**2 - 5*x6 + 11*x7"],
    ["1", "2", "0", "4", "0", "1", "1"], "680.6300573744")
add("bt1", 2, "100*x1**2 + 100*x2**2 - x1 - 100", ["x1**2 + x2**2 - 1"], ["0.08", "0.06"], "-1")
add("bt2", 3, "(x1-1)**2 + (x1-x2)**2 + (x2-x3)**4", ["x1*(1+x2**2) + x3**4 - 4 - 3*sqrt(2)"],
    ["10", "10", "10"], "0.0325682003")
add("bt3", 5, "(x1-x2)**2 + (x2+x3-2)**2 + (x4-1)**2 + (x5-1)**2",
    ["x1+3*x2", "x3+x4-2*x5", "x2-x5"], ["20"] * 5, "Rational(176, 43)")
add("bt4", 3, "x1 - x2 + x2**3", ["x1**2+x2**2+x3**2 - 25", "x1+x2+x3 - 1"],
    ["4.0382", "-2.9470", "-0.09115"], "-45.5105507399", kkt_only=True,
    note="two local solutions (-45.5105507399 and 3.2890377)")
add("bt5", 3, "1000 - x1**2 - 2*x2**2 - x3**2 - x1*x2 - x1*x3",
    ["x1**2+x2**2+x3**2 - 25", "8*x1+14*x2+7*x3 - 56"], ["2", "2", "2"], "961.7151721")
add("bt6", 5, "(x1-1)**2 + (x1-x2)**2 + (x3-1)**2 + (x4-1)**4 + (x5-1)**6",
    ["x1**2*x4 + sin(x4-x5) - 2*sqrt(2)", "x2 + x3**4*x2**2 - 8 - sqrt(2)"], ["2"] * 5,
    "0.2770447888")
add("bt7", 5, "100*(x2-x1**2)**2 + (x1-1)**2",
    ["x1*x2 - x3**2 - 1", "x2**2 - x4**2 + x1", "x5**2 + x1 - 0.5"], ["-2", "1", "1", "1", "1"],
    "306.5", kkt_only=True, note="second KKT point with f = 360.3797672")
add("bt8", 5, "x1**2 + x2**2 + x3**2", ["x1 - x4**2 + x2**2 - 1", "x1**2 + x2**2 - x5**2 - 1"],
    ["1", "1", "1", "0", "0"], "1")
add("bt9", 4, "-x1", ["x2 - x1**3 - x3**2", "x1**2 - x2 - x4**2"], ["2"] * 4, "-1")
add("bt10", 2, "-x1", ["x2 - x1**3", "x1**2 - x2"], ["2", "2"], "-1")
add("bt11", 5, "(x1-1)**2 + (x1-x2)**2 + (x2-x3)**2 + (x3-x4)**4 + (x4-x5)**4",
    ["x1 + x2**2 + x3**3 - (3*sqrt(2) - 2)", "x2 - x3**2 + x4 - (2*sqrt(2) - 2)", "x1 - x5 - 2"],
    ["2"] * 5, "0.8248917783")
add("bt12", 5, "0.01*x1**2 + x2**2",
    ["x1 + x2 - x3**2 - 25", "x1**2 + x2**2 - x4**2 - 25", "x1 - x5**2 - 2"],
    ["15.811", "1.5811", "0", "15.083", "3.7164"], "Rational(625, 101)")


def _orthregb():
    # variables: h11 h12 h13 h22 h23 h33 g1 g2 g3, then (x_i, y_i, z_i) for 6 points
    c0 = (0.5, 0.5, 0.5)
    offs = [(9, 9, 0), (6, -6, 0), (-9, -9, 0), (-6, 6, 0), (0, 0, 7), (0, 0, -7)]
    d = [tuple(c0[k] + o[k] for k in range(3)) for o in offs]
    f = []
    cs = []
    for i in range(6):
        px, py, pz = (f"x{10 + 3 * i}", f"x{11 + 3 * i}", f"x{12 + 3 * i}")
        f.append(f"({px} - {d[i][0]})**2 + ({py} - {d[i][1]})**2 + ({pz} - {d[i][2]})**2")
        cs.append(f"x1*{px}**2 + 2*x2*{px}*{py} + 2*x3*{px}*{pz} + x4*{py}**2 + 2*x5*{py}*{pz}"
                  f" + x6*{pz}**2 - 2*(x7*{px} + x8*{py} + x9*{pz}) - 1")
    x0 = ["1", "0", "0", "1", "0", "1", "0", "0", "0"] + [repr(v) for p in d for v in p]
    add("orthregb", 27, " + ".join(f), cs, x0, "0",
        note="orthogonal fit of an ellipsoid to 6 points (CUTEst ORTHREGB)")


_orthregb()


def code(e):
    e = sp.sympify(e).evalf(17)
    s = sp.pycode(e, fully_qualified_modules=True)
    return s


def gen():
    out = ['"""HS/BT equality-constrained test problems (GENERATED by tools/gen_hsbt.py; do not edit).',
           "",
           "Each entry: n, m, x0, f_opt, and functions of ``(x, xp)`` built from exact symbolic",
           "derivatives: f, grad, c, jac (m, n), hess (n, n), chess(x, v, xp) = sum_i v_i hess c_i.",
           '"""',
           "import math",
           "",
           "from ._cutest_util import S1, S2",
           "",
           "PROBLEMS = {}", ""]
    for name, d in P.items():
        n = d["n"]
        xs = sp.symbols(" ".join(f"x{i+1}" for i in range(n)))
        if n == 1:
            xs = (xs,)
        loc = {f"x{i+1}": xs[i] for i in range(n)}
        f = sp.sympify(d["f"], locals=loc)
        cs = [sp.sympify(c, locals=loc) for c in d["cs"]]
        m = len(cs)
        vs = sp.symbols(" ".join(f"v{i+1}" for i in range(m)))
        if m == 1:
            vs = (vs,)
        g = [sp.diff(f, xi) for xi in xs]
        J = [[sp.diff(c, xi) for xi in xs] for c in cs]
        Hf = [[sp.diff(f, a, b) for b in xs] for a in xs]
        L = sum(v * c for v, c in zip(vs, cs))
        Hc = [[sp.diff(L, a, b) for b in xs] for a in xs]
        x0 = [float(sp.N(sp.sympify(v))) for v in d["x0"]]
        fopt = float(sp.N(sp.sympify(d["fopt"]), 17))
        unpack = ", ".join(f"x{i+1}" for i in range(n)) + (", " if n == 1 else "") + " = " + \
            ", ".join(f"x[{i}]" for i in range(n))
        vunpack = ", ".join(f"v{i+1}" for i in range(m)) + " = " + \
            ", ".join(f"v[{i}]" for i in range(m))
        def body(expr_code):
            return expr_code.replace("math.", "xp.").replace("xp.pi", "math.pi")
        out.append(f"def _{name}_f(x, xp):\n    {unpack}\n    return {body(code(f))}\n")
        out.append(f"def _{name}_g(x, xp):\n    {unpack}\n    return S1(xp, x, [{', '.join(body(code(e)) for e in g)}])\n")
        out.append(f"def _{name}_c(x, xp):\n    {unpack}\n    return S1(xp, x, [{', '.join(body(code(e)) for e in cs)}])\n")
        rows = ", ".join("[" + ", ".join(body(code(e)) for e in row) + "]" for row in J)
        out.append(f"def _{name}_j(x, xp):\n    {unpack}\n    return S2(xp, x, [{rows}])\n")
        rows = ", ".join("[" + ", ".join(body(code(e)) for e in row) + "]" for row in Hf)
        out.append(f"def _{name}_h(x, xp):\n    {unpack}\n    return S2(xp, x, [{rows}])\n")
        rows = ", ".join("[" + ", ".join(body(code(e)) for e in row) + "]" for row in Hc)
        out.append(f"def _{name}_ch(x, v, xp):\n    {unpack}\n    {vunpack}\n    return S2(xp, x, [{rows}])\n")
        out.append(
            f"PROBLEMS[{name!r}] = dict(n={n}, m={m}, x0={x0!r}, f_opt={fopt!r}, "
            f"kkt_only={d['kkt_only']!r}, note={d['note']!r},\n"
            f"    f_expr={d['f']!r}, c_expr={d['cs']!r},\n"
            f"    f=_{name}_f, grad=_{name}_g, c=_{name}_c, jac=_{name}_j, hess=_{name}_h, "
            f"chess=_{name}_ch)\n")
    return "\n".join(out)


if __name__ == "__main__":
    import pathlib
    p = pathlib.Path(__file__).resolve().parents[1] / "xpsolve" / "problems" / "_hsbt.py"
    p.write_text(gen())
    print("wrote", p, len(P), "problems")
