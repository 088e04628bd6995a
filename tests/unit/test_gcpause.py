"""gc_paused: the collector is off inside, back on after, nesting and overlap safe, and left off if it was off."""

from __future__ import annotations

import gc

import pytest

from aiva.gcpause import gc_paused


@pytest.fixture(autouse=True)
def _collector_restored() -> object:
    was = gc.isenabled()
    yield
    gc.enable() if was else gc.disable()


def test_paused_inside_and_restored_after() -> None:
    gc.enable()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_nested_pauses_restore_only_at_the_outermost() -> None:
    gc.enable()
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_overlapping_pauses_restore_when_the_last_ends() -> None:
    gc.enable()
    a, b = gc_paused(), gc_paused()
    a.__enter__()
    b.__enter__()
    a.__exit__(None, None, None)
    assert not gc.isenabled()
    b.__exit__(None, None, None)
    assert gc.isenabled()


def test_restored_after_an_exception() -> None:
    gc.enable()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_disabled_collector_stays_disabled() -> None:
    gc.disable()
    with gc_paused():
        pass
    assert not gc.isenabled()
