"""Development launcher: the local Serving and the gateway as child processes.

Modules: ``__main__`` (``python -m stack``, ``make serve``: both until Ctrl-C) and
``processes`` (start, watch and stop them; also used by the tests).
"""
