# The nbval wiring applies to every notebook pytest collects (solutions/ and notebooks/).
pytest_plugins = ["tests.notebooks.nbval_wiring"]
