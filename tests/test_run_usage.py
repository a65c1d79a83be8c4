"""What a lifecycle cost, for metrics: ``Plugin.fuel_used`` and ``run_plugin(usage=...)``."""

from __future__ import annotations

import pytest

from wasmedge_py import PluginLimits, PluginStepError, load_plugin, run_plugin
from wasmedge_py.runtime import RunUsage

FUEL = 10_000_000


def test_fuel_used_adds_up_every_call_of_the_instance(wat):
    with load_plugin(wat("busy"), PluginLimits(fuel=FUEL)) as plugin:
        plugin.init()
        after_init = plugin.fuel_used
        assert after_init is not None and after_init > 0
        plugin.execute(1000)
        one = plugin.fuel_used - after_init  # type: ignore[operator]
        plugin.execute(2000)
        two = plugin.fuel_used - after_init - one  # type: ignore[operator]
        plugin.execute(3000)
        three = plugin.fuel_used - after_init - one - two  # type: ignore[operator]
        assert 0 < one < two < three and three - two == two - one  # each call counted once, in full


def test_no_fuel_limit_no_fuel_figure(wat):
    with load_plugin(wat("busy"), PluginLimits()) as plugin:
        plugin.init()
        plugin.execute(1000)
        assert plugin.fuel_used is None


def test_run_plugin_fills_usage_for_an_answer(wat):
    path = wat("busy")
    with load_plugin(path, PluginLimits(fuel=FUEL)) as plugin:  # the same lifecycle by hand
        plugin.init()
        plugin.execute(5000)
        plugin.cleanup()
        by_hand = plugin.fuel_used
    usage = RunUsage()
    run_plugin(path, 5000, PluginLimits(fuel=FUEL), usage=usage)
    assert usage.fuel_used == by_hand
    assert usage.cpu_seconds > 0
    unlimited = RunUsage()
    run_plugin(path, 5000, PluginLimits(), usage=unlimited)
    assert unlimited.fuel_used is None and unlimited.cpu_seconds > 0


@pytest.mark.parametrize(("plugin", "limit"), [("trap", FUEL), ("busy", 50_000)])
def test_run_plugin_fills_usage_when_a_step_fails(wat, plugin, limit):
    """A trap, or the fuel running out: the work done until then still counts."""
    usage = RunUsage()
    with pytest.raises(PluginStepError):
        run_plugin(wat(plugin), 10_000_000, PluginLimits(fuel=limit), usage=usage)
    assert usage.cpu_seconds > 0
    assert usage.fuel_used is not None and 0 < usage.fuel_used <= limit + 10  # init's cost + the budget
