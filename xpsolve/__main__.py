"""``python -m xpsolve suite ...`` / ``python -m xpsolve report ...``: the suite command line."""
import sys

USAGE = ("usage: python -m xpsolve suite [options]    run a benchmark plan (--help for options)\n"
         "       python -m xpsolve report RESULTS [--markdown PATH] [--html PATH] [--no-plot]\n"
         "                                         rebuild the reports of a stored suite")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    if argv[0] == "suite":
        from .suite.cli import main as suite_main

        return suite_main(argv[1:])
    if argv[0] == "report":
        from .suite.cli import report_main

        return report_main(argv[1:])
    print(f"unknown command {argv[0]!r}; the commands are 'suite' and 'report'", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
