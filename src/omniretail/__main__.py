"""``python -m omniretail``: the ``omni`` command (how ``omni serve`` starts its worker)."""

from omniretail.cli import main

if __name__ == "__main__":
    main()
