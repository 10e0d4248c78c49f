"""A fault that cannot reach a system is refused when the suite is read, not faked at run
time: the system's ``unreachable`` kinds, and kinds that need a capability (``FaultInfo.needs``)
the system does not offer, or a variant of it it does not offer (``check_offer``)."""

from __future__ import annotations

import dataclasses

import pytest

from harness import registry
from harness.config import ConfigError, _Registries, parse_suite
from harness.registry import FaultInfo, option


@dataclasses.dataclass(frozen=True)
class LieOptions:
    modes: tuple[str, ...] = option(("equivocate",), "how the node lies")


def _check_offer(opts: LieOptions, offered: tuple[str, ...]) -> str | None:
    missing = [m for m in opts.modes if m not in offered]
    return f"mode {missing[0]!r} is not offered; offered: {', '.join(offered)}" if missing else None


LIE = FaultInfo(
    name="lie",
    description="make a node lie",
    make=lambda *a: None,
    starts=("start-lie",),
    heal="stop-lie",
    options=LieOptions,
    needs="byzantine",
    check_offer=_check_offer,
)


def _registries() -> _Registries:
    real = _Registries.load()
    raft = real.systems["raft"]
    liar = dataclasses.replace(raft, name="liar", offers={"byzantine": ("equivocate", "silence")})
    deaf = dataclasses.replace(raft, name="deaf", unreachable={"clock": "it has no clock"})
    systems = {**real.systems, "liar": liar, "deaf": deaf}
    return dataclasses.replace(real, systems=systems, faults={**real.faults, "lie": LIE})


def _suite(system: str, faults: str | None) -> str:
    nemesis = f"\n    nemesis: {{faults: {faults}}}" if faults is not None else ""
    return f"tests:\n  - name: a\n    system: {system}\n    workload: register{nemesis}\n"


@pytest.fixture
def regs(monkeypatch: pytest.MonkeyPatch) -> _Registries:
    r = _registries()
    monkeypatch.setattr(_Registries, "load", classmethod(lambda cls: r))
    return r


def test_a_system_that_offers_the_capability_takes_the_fault(regs: _Registries) -> None:
    suite = parse_suite(_suite("liar", "[partition, {name: lie, modes: [silence]}]"))
    assert [f.name for f in suite.tests[0].nemesis.faults] == ["partition", "lie"]


def test_a_system_without_the_capability_is_refused_naming_who_offers_it(regs) -> None:
    with pytest.raises(ConfigError) as e:
        parse_suite(_suite("raft", "[lie]"))
    text = str(e.value)
    assert "the lie fault needs a system that offers 'byzantine'; raft does not" in text
    assert "(systems that do: liar, pbft)" in text
    assert "nemesis.faults" in text


def test_a_variant_the_system_does_not_offer_is_refused(regs: _Registries) -> None:
    with pytest.raises(ConfigError) as e:
        parse_suite(_suite("liar", "[{name: lie, modes: [forge]}]"))
    assert "the lie fault on liar: mode 'forge' is not offered; offered: equivocate, silence" in (
        str(e.value)
    )


def test_an_unreachable_kind_named_is_refused_with_the_reason(regs: _Registries) -> None:
    with pytest.raises(ConfigError) as e:
        parse_suite(_suite("deaf", "[partition, clock]"))
    assert "the clock fault cannot reach deaf: it has no clock" in str(e.value)


def test_the_default_faults_leave_out_what_cannot_reach_the_system(regs: _Registries) -> None:
    deaf = parse_suite(_suite("deaf", None)).tests[0].nemesis.faults
    raft = parse_suite(_suite("raft", None)).tests[0].nemesis.faults
    assert "clock" in [f.name for f in raft]
    assert [f.name for f in deaf] == [f.name for f in raft if f.name != "clock"]


def test_etcd_and_redis_say_why_the_clock_cannot_reach_them() -> None:
    systems = registry.systems()
    for name in ("etcd", "redis"):
        assert {"clock", "drift"} <= set(systems[name].unreachable), name
