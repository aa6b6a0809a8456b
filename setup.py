import os
import sys
from pathlib import Path

from setuptools import find_packages, setup

# Modules compiled to C with mypyc: the walk over the wikitext tokens and the rewrites of clean text
# (the walk: 1.8 -> 1.0 ms of about 9 ms per article, docs/performance.md). Their source is the reference.
COMPILED = ["relxdata/wikitext.py"]


def compiled_modules():
    """mypyc's extensions for COMPILED, or none where RELXDATA_PURE_PYTHON=1 asks for a pure install.

    Failing to compile is not an error: mypyc's type check failing gives no extensions, and a C
    compiler failing (or missing) skips them, as they are optional. Python then imports the
    pure-Python modules, which give the same output, more slowly.
    """
    if os.environ.get("RELXDATA_PURE_PYTHON") == "1":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:  # a build without pyproject.toml's build requirements
        print("relxdata: mypy is not installed, so nothing is compiled", file=sys.stderr)
        return []
    try:
        extensions = mypycify(["--ignore-missing-imports", *COMPILED])
    except SystemExit:  # mypyc has printed the type errors
        print("relxdata: mypyc's type check failed, so nothing is compiled", file=sys.stderr)
        return []
    for extension in extensions:
        extension.optional = True
    return extensions


setup(
    name="relxdata",
    version="0.1.0",
    description="Distant-supervision corpora for multilingual relation extraction from Wikipedia dumps",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["relxdata", "relxdata.*", "pipelines", "pipelines.*", "model", "model.*"]),
    package_data={"relxdata": ["data/*.json", "data/*.jsonl", "data/demo/*.xml", "data/demo/*.json",
                                "data/demo/*.ttl"]},
    install_requires=[
        "apache-beam>=2.60",
        "mwparserfromhell>=0.6.6",
        "spacy>=3.7,<4",
        "pyarrow>=14",
        "indexed_bzip2>=1.5",
        "tqdm>=4.60",
        "duckdb>=2.0,<3",
        "numpy>=1.24",
        "SPARQLWrapper>=2.0",
        "orjson>=3.9",
        "rapidgzip>=0.14",
        "zstandard>=0.22",
        "babel>=2.14",
        "requests>=2.31",
        "matplotlib>=3.7",
        "pyyaml>=6",
        "mypy_extensions>=1.0",
    ],
    extras_require={
        "dataflow": ["apache-beam[gcp]>=2.60"],
        "model": ["torch>=2.4", "transformers>=5,<6"],
        "test": ["pytest>=7", "oxigraph>=0.4", "datasets>=2.19", "hypothesis>=6.100"],
        "bench": ["wikiextractor==3.1.0", "wikimapper==0.2.0"],
    },
    entry_points={"console_scripts": ["relxdata=relxdata.cli:main"]},
    ext_modules=compiled_modules(),
)
