"""Reading many runs at once: compare, diff, key contracts, the change log.

Each module builds plain data from the store (and renders it); the CLI modules only
parse options and print.
"""
