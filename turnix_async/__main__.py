"""`python -m turnix_async` and the `turnix` console script: see `turnix --help`."""

from ._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
