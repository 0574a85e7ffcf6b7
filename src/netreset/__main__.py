"""Allow ``python -m netreset``."""

from netreset.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
