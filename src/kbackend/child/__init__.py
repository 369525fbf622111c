"""Everything that runs in the target interpreter: the child side of the process boundary.

Every module here imports only the standard library and the target's own
packages (numpy, keras, a backend), never kbackend: the target may be another
interpreter, a legacy Python, an environment without kbackend. Workers are run
by path through `_boot.py` (the parent's `kbackend.workers.runner` starts them);
`cases.py` and `compare.py` are also imported by the parent as plain data
modules. `adapters/` holds one module per backend. tests/unit/test_child_side.py
checks that nothing here imports kbackend.
"""
