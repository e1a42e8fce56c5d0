"""Settings come from env (E200_*), then the TOML file named by E200_CONFIG, then defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from e200.config import Settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("E200_CONFIG", "E200_DATABASE_URL", "E200_PORT", "E200_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    settings = Settings()
    assert settings.database_url is None  # embedded PostgreSQL
    assert settings.port == 8000 and settings.host == "127.0.0.1"
    assert settings.data_path == (Path.cwd() / "var").resolve()


def test_toml_file_and_env_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "e200.toml"
    config.write_text('port = 9100\ntimezone = "Asia/Shanghai"\ndata_dir = "/srv/e200"\n')
    monkeypatch.setenv("E200_CONFIG", str(config))
    monkeypatch.setenv("E200_PORT", "9200")
    settings = Settings()
    assert settings.port == 9200, "environment beats the file"
    assert settings.timezone == "Asia/Shanghai"
    assert settings.data_path == Path("/srv/e200")


def test_bad_values_are_refused_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("E200_CONFIG", raising=False)
    monkeypatch.setenv("E200_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValidationError, match="unknown time zone"):
        Settings()
    monkeypatch.delenv("E200_TIMEZONE")
    monkeypatch.setenv("E200_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(FileNotFoundError, match=r"missing\.toml"):
        Settings()
