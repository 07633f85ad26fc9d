"""`load_yaml`: YAML 1.2, JSON data only, every error with its line; YAML 1.1 booleans remembered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attune_shared.yamlfile import Yaml11Bool, YamlError, load_yaml


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "file.yaml"
    path.write_text(text)
    return load_yaml(path)


def error(tmp_path: Path, text: str) -> YamlError:
    with pytest.raises(YamlError) as info:
        load(tmp_path, text)
    assert "\n" not in str(info.value)
    return info.value


def test_yaml_1_2_scalars(tmp_path: Path) -> None:
    data = load(
        tmp_path,
        "enum: [yes, no, on, off, y, n]\nquoted: 'yes'\nmode: 0755\noctal: 0o755\n"
        "clock: 1:30\nexponent: 1e3\nflag: true\nFlag: True\nnothing: ~\n",
    )
    assert data == {
        "enum": ["yes", "no", "on", "off", "y", "n"],
        "quoted": "yes",
        "mode": 755,
        "octal": 493,
        "clock": "1:30",
        "exponent": 1000.0,
        "flag": True,
        "Flag": True,
        "nothing": None,
    }
    assert json.loads(json.dumps(data)) == data


def test_plain_yaml_1_1_booleans_remember_their_meaning(tmp_path: Path) -> None:
    data = load(tmp_path, "words: [yes, No, ON, off, 'yes', \"no\", y]\n")
    assert isinstance(data, dict)
    kinds = [(word, isinstance(word, Yaml11Bool) and word.boolean) for word in data["words"]]
    assert kinds == [
        ("yes", True),
        ("No", False),
        ("ON", True),
        ("off", False),
        ("yes", False),  # quoted: a string only
        ("no", False),
        ("y", False),  # PyYAML never read y/n as booleans
    ]
    assert [type(w) for w in data["words"][4:]] == [str, str, str]


def test_dates_stay_the_strings_written(tmp_path: Path) -> None:
    assert load(tmp_path, "at: 2030-01-31\nstamp: 2030-01-31 10:00:00+02:00\n") == {
        "at": "2030-01-31",
        "stamp": "2030-01-31 10:00:00+02:00",
    }


def test_empty_file_is_none_and_merge_keys_work(tmp_path: Path) -> None:
    assert load(tmp_path, "") is None
    assert load(tmp_path, "base: &b {a: 1, b: 2}\nother: {<<: *b, b: 3}\n") == {
        "base": {"a": 1, "b": 2},
        "other": {"a": 1, "b": 3},
    }


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("ref: a\nref: b\n", "invalid YAML: duplicate key 'ref' (line 2, column 1)"),
        ("a:\n  b: 1\n  c: [1, {d: 2, d: 3}]\n", "invalid YAML: duplicate key 'd' (line 3, column 17)"),
        ("a: {1: x}\n", "keys must be strings, got int 1 (line 1, column 5)"),
        ("a: {[1, 2]: x}\n", "keys must be strings, got tuple (1, 2) (line 1, column 5)"),
        ("a: .nan\n", ".nan is not a JSON number (line 1, column 4)"),
        ("a: [1, -.inf]\n", "-.inf is not a JSON number (line 1, column 8)"),
        ("a: !!binary aGVsbG8=\n", "!!binary is not a JSON value (line 1, column 4)"),
        ("a: !!set {x, y}\n", "!!set is not a JSON value (line 1, column 4)"),
        (
            "a: !Ref b\n",
            "invalid YAML: could not determine a constructor for the tag '!Ref' (line 1, column 4)",
        ),
        ("a: [1\n", "invalid YAML: expected ',' or ']', but got '<stream end>' (line 2, column 1)"),
        (
            "a: 1\n---\nb: 2\n",
            "invalid YAML: expected a single document in the stream, but found another document (line 2, column 1)",
        ),
    ],
)
def test_errors_name_the_line(tmp_path: Path, text: str, detail: str) -> None:
    exc = error(tmp_path, text)
    assert exc.detail == detail
    assert str(exc) == f"{tmp_path / 'file.yaml'}: {detail}"


def test_duplicate_key_does_not_show_the_values(tmp_path: Path) -> None:
    exc = error(tmp_path, "security:\n  secret_key: hunter2-first\n  secret_key: hunter2-second\n")
    assert "hunter2" not in str(exc)
    assert exc.line == 3


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(YamlError, match=r"missing.yaml: cannot read the file: No such file"):
        load_yaml(tmp_path / "missing.yaml")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(YamlError, match="not UTF-8 text"):
        load_yaml(latin)
