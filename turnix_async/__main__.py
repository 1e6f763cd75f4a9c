"""The `turnix` command line (placeholder, being written)."""


def main() -> None:
    raise SystemExit("not yet implemented")


if __name__ == "__main__":
    main()
