"""Which assets must carry which control categories: data for the `missing-control` rule.

An asset needs a category when its host type is listed here and its lifecycle stage is one in
which it is in use. Some things cannot run an agent at all (printers, kiosks on a vendor image,
network gear): they are listed as not applicable rather than failing.
"""
from __future__ import annotations

from graph.schema import LifecycleStage

# host type -> control categories it must have (ControlCategory values)
REQUIRED_CONTROLS: dict[str, tuple[str, ...]] = {
    "server": ("edr", "logging"),
    "vm": ("edr", "logging"),
    "laptop": ("edr", "mdm"),
    "workstation": ("edr",),
}

# stages in which an asset is in use and must be covered
IN_USE_STAGES: tuple[str, ...] = (LifecycleStage.DEPLOYMENT.value, LifecycleStage.MAINTENANCE.value)

# not applicable: these host types, and assets whose inventory category or model names one of these words
NOT_APPLICABLE_HOST_TYPES: tuple[str, ...] = ("network",)
NOT_APPLICABLE_WORDS: tuple[str, ...] = ("printer", "kiosk", "switch", "router", "firewall", "access point")


def policy_params() -> dict:
    """The policy as query parameters."""
    return {"required": {k: list(v) for k, v in REQUIRED_CONTROLS.items()},
            "host_types": sorted(REQUIRED_CONTROLS), "stages": list(IN_USE_STAGES),
            "exempt_types": list(NOT_APPLICABLE_HOST_TYPES), "exempt_words": list(NOT_APPLICABLE_WORDS)}
