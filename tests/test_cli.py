from cdn import __version__
from tests.conftest import run_cdn


def test_version_and_help():
    out = run_cdn("--version")
    assert out.returncode == 0
    assert __version__ in out.stdout
    out = run_cdn("--help")
    assert out.returncode == 0
    assert "COMMAND" in out.stdout
