import subprocess
import sys
from pathlib import Path

import pytest

import repalign as ra
from repalign import errors


def test_import_is_light():
    """Importing repalign loads neither torch nor any optional backend."""
    code = "import sys, repalign; print(int(any(m in sys.modules for m in ('torch', 'timm', 'open_clip', 'ray'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


def test_type_checkers_see_every_entry_point():
    """The names type checkers import under TYPE_CHECKING are exactly the lazy entry points,
    each from the module the lazy lookup loads it from."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(ra))
    (block,) = [n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"]
    seen = {alias.asname: node.module for node in block.body for alias in node.names}
    assert seen == ra._ENTRY_POINTS


def test_unknown_attribute():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ra.nope  # noqa: B018


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (errors.ShapeError, ValueError),
        (errors.UnknownNameError, KeyError),
        (errors.NotFittedError, ValueError),
        (errors.MissingDependencyError, ImportError),
        (errors.DataFormatError, ValueError),
        (errors.ConfigError, ValueError),
    ],
)
def test_error_hierarchy(cls, builtin):
    assert issubclass(cls, errors.RepalignError)
    assert issubclass(cls, builtin)


def test_unknown_name_error_message_is_plain():
    assert str(errors.UnknownNameError("Unknown metric 'x'.")) == "Unknown metric 'x'."


def test_require_names_the_extra():
    from repalign._deps import require

    with pytest.raises(errors.MissingDependencyError, match=r"pip install 'repalign\[clip\]'"):
        require("surely_not_a_module_xyz", "clip")


def test_tests_cache_outside_the_users_home(_private_cache):
    from repalign._io import default_cache_dir

    assert default_cache_dir() == _private_cache != Path.home() / ".cache" / "repalign"
