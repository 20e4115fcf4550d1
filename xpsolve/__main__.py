"""``python -m xpsolve suite ...``: the benchmark suite command line."""
import sys


def main(argv=None):
    from .suite.cli import main as suite_main

    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m xpsolve suite [options]   (python -m xpsolve suite --help)")
        return 0 if argv else 2
    if argv[0] != "suite":
        print(f"unknown command {argv[0]!r}; the only command is 'suite'", file=sys.stderr)
        return 2
    return suite_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
