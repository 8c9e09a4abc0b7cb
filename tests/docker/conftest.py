"""The docker suite's compose stack (``docker_runtime``, ``docker_stack``) is defined in
tests/engine.py, a plugin of the whole suite: the operations suite (tests/operations) runs on
the same stack."""
