"""docs/configuration.md is the generated reference, kept current."""

from pathlib import Path

from typer.testing import CliRunner

from api.cli.config import markdown
from api.cli.main import app
from api.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_the_committed_reference_is_current() -> None:
    assert DOC.read_text() == markdown(), "run: enclave config --markdown > docs/configuration.md"


def test_every_setting_is_documented() -> None:
    text = markdown()
    for name, field in Settings.model_fields.items():
        assert f"`ENCLAVE_{name.upper()}`" in text
        assert field.description, name


def test_the_cli_prints_it() -> None:
    result = CliRunner().invoke(app, ["config", "--markdown"])
    assert result.exit_code == 0
    assert result.output == markdown()
