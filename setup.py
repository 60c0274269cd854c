"""Build hook for the compiled linearizability core (checkers/_wgl.c).

Everything else about the package is in pyproject.toml. The extension is optional: if it
cannot be built (no compiler, no Python headers), the pure-Python search is used, with
identical verdicts.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("checkers._wgl", ["checkers/_wgl.c"], optional=True,
                             extra_compile_args=["-O2"])])
