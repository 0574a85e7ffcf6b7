"""Allow ``python -m netreset``."""

from netreset.cli.main import run

if __name__ == "__main__":  # pragma: no cover
    run()
