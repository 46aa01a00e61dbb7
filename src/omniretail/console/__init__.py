"""The console: server-rendered pages for HQ and store staff under ``/console``.

Pages call the same service functions and permission rules as the API; a person acts with the
permissions of their role's API role, and a store role only at its own stores.
"""
