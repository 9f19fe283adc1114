"""samconfig.toml: the dev and prod environments deploy the template with parameters it declares,
and production is what the template's IsProd condition recognises."""

from __future__ import annotations

import shlex
import tomllib
from typing import Any

from infra.local.template import DEFAULT_TEMPLATE_PATH, Template, load_template_data
from tests.helpers import ROOT


def _overrides(env: dict[str, Any]) -> dict[str, str]:
    pairs = shlex.split(env["deploy"]["parameters"]["parameter_overrides"])
    return dict(pair.split("=", 1) for pair in pairs)


def test_dev_and_prod_deploy_declared_parameters_to_their_own_stacks() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    declared = load_template_data(DEFAULT_TEMPLATE_PATH)["Parameters"]
    stacks = set()
    for name in ("dev", "prod"):
        env = config[name]
        overrides = _overrides(env)
        assert set(overrides) <= set(declared), name
        assert overrides["Stage"] == name
        deploy = env["deploy"]["parameters"]
        assert "CAPABILITY_IAM" in deploy["capabilities"]
        stacks.add(deploy["stack_name"])
        assert env["delete"]["parameters"]["stack_name"] == deploy["stack_name"]
    assert len(stacks) == 2
    # production shows its change set before it is applied
    assert config["prod"]["deploy"]["parameters"]["confirm_changeset"] is True


def test_only_the_prod_environment_turns_on_what_only_prod_needs() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    for name, is_prod in (("dev", False), ("prod", True)):
        template = Template.load(parameters=_overrides(config[name]))
        assert template.condition("IsProd") is is_prod, name
        table = template.resolve(template.properties("LikenessTable"))
        assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is is_prod
        assert table["DeletionProtectionEnabled"] is True  # both: a table is never deleted by accident
