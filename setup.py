"""Build hook: the packages (recsys_core*) and the bundled ml-100k, shipped inside the wheel.

The data stays at data/ml-100k/ in the checkout (everything else uses that path); the wheel carries it
as recsys_core/_bundled/ml-100k/, where recsys_core.paths.bundled_dir() finds it once installed.
Everything else (metadata, dependencies, extras, the `recsys` script) is in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["recsys_core", "recsys_core.*"]), "recsys_core._bundled"],
    package_dir={"recsys_core._bundled": "data"},
    package_data={"recsys_core._bundled": ["ml-100k/*.json", "ml-100k/*.parquet"]},
    include_package_data=False,
)
