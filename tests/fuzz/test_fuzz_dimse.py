"""Fuzzing DIMSE: command set decoding (PS3.7 E.1) and message assembly from P-DATA.

Contracts: :meth:`~pacslink.dicomnet.commands.Command.decode` returns a command or
raises :class:`~pacslink.dicomnet.errors.DIMSEError`; an established association fed
arbitrary bytes yields messages or raises a
:class:`~pacslink.dicomnet.errors.NetworkError`, with in-memory data sets within caps.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pacslink.dicomnet.commands import Command
from tests.fuzz.record import fuzz, run
from tests.fuzz.strategies import commands, message_streams, mutated


@fuzz("dimse_command")
@given(st.binary(max_size=512))
def test_arbitrary_command_bytes(data: bytes) -> None:
    run("dimse_command", data)


@fuzz("dimse_command")
@given(st.data())
def test_mutated_commands(data: st.DataObject) -> None:
    run("dimse_command", data.draw(mutated(data.draw(commands).encode())))


@fuzz("dimse_command")
@given(commands)
def test_commands_round_trip(command: Command) -> None:
    assert Command.decode(command.encode()) == command


@fuzz("dimse_stream")
@given(st.binary(max_size=1024))
def test_arbitrary_stream(data: bytes) -> None:
    run("dimse_stream", data)


@fuzz("dimse_stream")
@given(st.data())
def test_mutated_message_streams(data: st.DataObject) -> None:
    run("dimse_stream", data.draw(mutated(data.draw(message_streams()))))
