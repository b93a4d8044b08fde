"""The one compiled part of pcapmtu: the record walker (pcapmtu/walk.py explains).

Optional: without a C compiler the package installs with the walker in Python instead.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("pcapmtu._native", ["pcapmtu/_native.c"], optional=True)])
