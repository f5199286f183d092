# The extension is optional: without a C compiler or OpenSSL's headers the install goes on without
# it and audiences.exports.normalize hashes in Python (same results, slower exports).
from setuptools import Extension, setup

setup(ext_modules=[Extension("audience_speedups", sources=["audience_speedups.c"], libraries=["crypto"],
                             optional=True)])
