"""Start-up and output costs: a command imports what it needs and no more (``--help``
still lists every command), and bulk output (JSON, one line per C-FIND match) is written
without Rich's rendering.

Import checks run in a fresh interpreter, so ``sys.modules`` shows exactly what one
invocation imported.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian
from rich.console import Console
from typer.testing import CliRunner

from pacslink.cli.common import print_json, print_plain
from pacslink.cli.lazy import LazyCommand, first_paragraph
from pacslink.cli.main import COMMANDS, app
from tests.factory import make_ct
from tests.peers import CLEAN_ENV, free_port
from tests.qr_peers import rogue_qr_scp

#: Heavy modules ``echo`` and ``send`` never need.
HEAVY = ("pydicom", "numpy", "sqlalchemy", "PIL", "fastapi", "pacslink.store", "pacslink.web")

_PROBE = """
import json, sys
from typer.testing import CliRunner
from pacslink.cli.main import app
result = CliRunner().invoke(app, sys.argv[1:], env={"COLUMNS": "200"})
print(json.dumps({"code": result.exit_code, "output": result.output,
                  "modules": sorted(sys.modules)}))
"""


def invoke_fresh(*args: str) -> tuple[int, str, list[str]]:
    """Run ``pacslink ARGS`` in a new interpreter; exit code, output, imported modules."""
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True,
                          text=True, env=CLEAN_ENV, timeout=60, check=True)
    answer = json.loads(done.stdout)
    return answer["code"], answer["output"], answer["modules"]


def loaded(modules: list[str], prefix: str) -> list[str]:
    return [m for m in modules if m == prefix or m.startswith(prefix + ".")]


def test_help_lists_every_command_with_its_help_without_importing_them() -> None:
    code, output, modules = invoke_fresh("--help")
    assert code == 0
    for spec in COMMANDS:
        line = next(line for line in output.splitlines()
                    if line.lstrip("│ ").startswith(f"{spec.name} "))
        assert line.lstrip("│ ").split(None, 1)[1].startswith(spec.help[:40]), line
    assert " ".join(output.split()).count("C-ECHO remote AEs and show the round-trip time") == 1
    for module in ("pacslink.cli.net", "pacslink.cli.query", "pacslink.cli.serve",
                   "pacslink.api", *HEAVY):
        assert not loaded(modules, module), module


@pytest.mark.parametrize("spec", COMMANDS, ids=lambda spec: spec.name)
def test_registered_help_is_the_commands_own(spec: LazyCommand) -> None:
    command = spec.load()
    assert command.name == spec.name
    assert first_paragraph(command.help) == spec.help


def test_each_command_runs_through_the_lazy_root(tmp_path: Path) -> None:
    runner = CliRunner()
    for spec in COMMANDS:
        result = runner.invoke(app, [spec.name, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (spec.name, result.output)
        assert spec.help[:40] in " ".join(result.output.replace("│", " ").split()), spec.name
    # the global options reach commands loaded lazily, in groups too
    for args in (["echo", "--help"], ["ae", "list", "--help"], ["store", "list", "--help"]):
        result = runner.invoke(app, args, env={"COLUMNS": "200"})
        assert "--home" in result.output and "--verbose" in result.output, args
    result = runner.invoke(app, ["eco"])
    assert result.exit_code == 2 and "Did you mean 'echo'?" in result.output


def test_find_reads_its_matches_without_importing_pydicom(tmp_path: Path) -> None:
    # pydicom (with NumPy and the pixel plugins) is 0.14 s of a find's start-up; the
    # request and the matches go through pacslink.query_dictionary instead
    held = make_ct(patient_id="VET042", patient_name="M\u00fcller^Rex")
    with rogue_qr_scp("normal", [held]) as rogue:
        code, output, modules = invoke_fresh(
            "--home", str(tmp_path), "find", "--patient-id", "VET042",
            "--ae", f"{rogue.aet}@127.0.0.1:{rogue.port}", "--model", "study", "--json")
    assert code == 0, output
    [match] = json.loads(output)["results"]
    assert match["PatientID"] == "VET042" and match["PatientName"] == "M\u00fcller^Rex"
    assert match["StudyInstanceUID"] == held.StudyInstanceUID
    [(operation, identifier)] = rogue.requests  # what the SCP was asked, as pydicom reads it
    assert operation == "C-FIND" and identifier.PatientID == "VET042"
    assert identifier.QueryRetrieveLevel == "STUDY" and "StudyInstanceUID" in identifier
    for module in ("pydicom", "numpy", "pacslink.store"):
        assert not loaded(modules, module), module


def test_echo_imports_neither_pydicom_nor_the_store(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there: the C-ECHO fails after connecting
    code, output, modules = invoke_fresh("--home", str(tmp_path), "echo",
                                         f"NOBODY@127.0.0.1:{port}")
    assert code == 1 and "Connection refused" in output
    for module in HEAVY:
        assert not loaded(modules, module), module


def test_send_imports_neither_pydicom_nor_the_store(tmp_path: Path) -> None:
    ds = make_ct(rows=8, columns=8)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path = tmp_path / "ct.dcm"
    ds.save_as(path, enforce_file_format=True)
    code, output, modules = invoke_fresh("--home", str(tmp_path), "send",
                                         f"NOBODY@127.0.0.1:{free_port()}", str(path))
    assert code == 1 and "Connection refused" in output
    for module in HEAVY:
        assert not loaded(modules, module), module


# --- output written without Rich's rendering -----------------------------------------------


def test_json_is_written_verbatim_and_parses() -> None:
    out = io.StringIO()
    data = {"name": "[red]Müller[/red] :smile:", "lines": "a\nb\x1b[31m", "n": [1, 2]}
    print_json(Console(file=out, highlight=False, soft_wrap=True), data)
    text = out.getvalue()
    assert json.loads(text) == data
    assert text == ('{\n  "name": "[red]Müller[/red] :smile:",\n  "lines": "a\\nb\\u001b[31m",\n'
                    '  "n": [1, 2]\n}\n')


def test_json_is_indented_down_to_records_which_take_one_line_each() -> None:
    out = io.StringIO()
    matches = [{"PatientID": f"P{i}", "StudyInstanceUID": f"1.2.{i}", "aes": ["A", "B"],
                "ModalitiesInStudy": ["CT", "SR"], "NumberOfStudyRelatedInstances": i,
                "note": None, "empty": {}} for i in range(3)]
    data = {"level": "STUDY", "seconds": 1.5, "aes": [{"name": "A", "error": None}],
            "results": matches, "none": [], "nested": {"deeper": [[1, 2], [3]]},
            "one": {"PatientID": "P9", "n": 1}}
    print_json(Console(file=out, highlight=False, soft_wrap=True), data)
    text = out.getvalue()
    assert json.loads(text) == data
    lines = text.splitlines()
    assert lines[0] == "{" and lines[-1] == "}"
    assert '  "level": "STUDY",' in lines and '  "none": [],' in lines
    for match in matches:  # each match whole on one line of its own
        assert f"    {json.dumps(match, ensure_ascii=False)}," in lines or \
            f"    {json.dumps(match, ensure_ascii=False)}" in lines
    assert '    {"name": "A", "error": null}' in lines
    assert '    "deeper": [[1, 2], [3]],' in lines or '    "deeper": [[1, 2], [3]]' in lines
    # an object that is not a record of an array keeps one key per line
    assert '  "one": {' in lines and '    "PatientID": "P9",' in lines


def test_a_plain_line_stays_one_line_and_keeps_markup_like_text() -> None:
    out = io.StringIO()
    console = Console(file=out, highlight=False, soft_wrap=True, width=20)
    print_plain(console, "7  [bold]x[/]  :smile:  " + "9" * 40 + "\r\nNEXT\x1b[2J\x07")
    print_plain(console, "second")
    assert out.getvalue() == ("7  [bold]x[/]  :smile:  " + "9" * 40 + "  NEXT [2J \nsecond\n")
