"""The shipped weights of the tiny prior (a package so that setuptools installs its data files)."""
